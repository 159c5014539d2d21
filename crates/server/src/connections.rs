//! What one client may hold: a bounded number of connections, each closed when its TLS
//! handshake, its request headers or body, or its idle keep-alive stalls. Any pod can reach
//! the webhook's Service, so a client that opens connections and sends nothing must not
//! starve the API server's ones nor grow the server's memory without bound.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::Waker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Timeouts and the connection cap, each a `podsec serve` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accepting a connection to a finished TLS handshake.
    pub tls_handshake: Duration,
    /// From a request's first byte to the end of its headers.
    pub header_read: Duration,
    /// To receive a whole request body, once its headers are in.
    pub body_read: Duration,
    /// A connection with no bytes in either direction for this long is closed. Longer than
    /// kube-apiserver's idle pool (90 s), so its connections are reused, not churned.
    pub idle: Duration,
    /// Connections open at once; past it the connection quiet for longest is closed to make
    /// room, so clients that open connections and stall cannot shut the API server out.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tls_handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(10),
            idle: Duration::from_secs(120),
            max_connections: 2048,
        }
    }
}

/// The open connections, with when each last moved a byte. At the cap, the one that has
/// been quiet longest is closed to make room: a client that opens connections and stalls
/// holds only its oldest ones for a while, never the API server out.
struct Registry {
    max: usize,
    epoch: std::time::Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
}

/// One connection's shared state: its last activity and whether it was evicted.
struct Slot {
    /// Milliseconds since the registry's epoch.
    last_activity: AtomicU64,
    evicted: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Registry {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Registers a new connection, evicting the quietest one if the cap is reached.
    fn admit(self: &Arc<Self>) -> (u64, Arc<Slot>) {
        let slot = Arc::new(Slot {
            last_activity: AtomicU64::new(self.now()),
            evicted: AtomicBool::new(false),
            waker: Mutex::new(None),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.max {
            let quietest = open
                .iter()
                .min_by_key(|(_, s)| s.last_activity.load(Ordering::Relaxed))
                .map(|(id, _)| *id);
            if let Some(evicted) = quietest.and_then(|id| open.remove(&id)) {
                evicted.evicted.store(true, Ordering::Release);
                let waker = evicted
                    .waker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
        }
        open.insert(id, Arc::clone(&slot));
        (id, slot)
    }

    fn release(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// An acceptor that registers a connection before the inner (TLS) acceptor runs (so a stalled
/// handshake counts), and gives the stream an idle timeout and eviction.
#[derive(Clone)]
pub struct Limited<A> {
    inner: A,
    registry: Arc<Registry>,
    idle: Duration,
}

impl<A> Limited<A> {
    pub fn new(inner: A, limits: &Limits) -> Limited<A> {
        Limited {
            inner,
            registry: Arc::new(Registry {
                max: limits.max_connections.max(1),
                epoch: std::time::Instant::now(),
                next_id: AtomicU64::new(0),
                open: Mutex::new(HashMap::new()),
            }),
            idle: limits.idle,
        }
    }
}

impl<A, I, S> Accept<I, S> for Limited<A>
where
    A: Accept<I, S> + Clone + Send + 'static,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = Guarded<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let registry = Arc::clone(&self.registry);
        let (id, slot) = registry.admit();
        let ticket = Ticket {
            registry: Arc::clone(&registry),
            id,
        };
        let inner = self.inner.clone();
        let idle = self.idle;
        Box::pin(async move {
            let handshake = inner.accept(stream, service);
            tokio::pin!(handshake);
            // An eviction during the handshake ends it too.
            let (stream, service) = std::future::poll_fn(|cx| {
                if slot.evicted.load(Ordering::Acquire) {
                    return Poll::Ready(Err(io::Error::other("evicted: connection limit reached")));
                }
                *slot.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                handshake.as_mut().poll(cx)
            })
            .await?;
            Ok((Guarded::new(stream, ticket, slot, idle), service))
        })
    }
}

/// Removes its connection from the registry when the connection ends.
struct Ticket {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

/// A connection's stream: reads fail once nothing has moved for `idle`, or once it is
/// evicted to make room.
pub struct Guarded<S> {
    stream: S,
    ticket: Ticket,
    slot: Arc<Slot>,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> Guarded<S> {
    fn new(stream: S, ticket: Ticket, slot: Arc<Slot>, idle: Duration) -> Guarded<S> {
        Guarded {
            stream,
            ticket,
            slot,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn activity(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
        self.slot
            .last_activity
            .store(self.ticket.registry.now(), Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.slot.evicted.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::other("evicted: connection limit reached")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    this.activity();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                *this.slot.waker.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(cx.waker().clone());
                match this.deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection idle for too long",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity();
        }
        result
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
