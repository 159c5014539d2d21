//! `podsec netpol`: who can reach whom through NetworkPolicies, why, and what a change does.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use podsec_netpol::{
    diff, explain, gaps, Connections, Connectivity, DiffLine, Direction, Endpoint, Explanation,
    Gap, Granularity, Protocol, Topology,
};
use serde_json::{json, Value};

#[derive(clap::Subcommand, Debug)]
pub enum NetpolCommand {
    /// The connectivity list: every ordered pair of peers with some allowed traffic.
    List(ListArgs),
    /// What changes in who-can-reach-whom between two manifest sets (exit 1 when something does).
    Diff(DiffArgs),
    /// Whether SRC may connect to DST, and which policies and rules decide it.
    Explain(ExplainArgs),
    /// Gaps: namespaces without default deny, unprotected workloads, selectors and named
    /// ports that match nothing.
    Audit(AuditArgs),
}

#[derive(clap::Args, Debug)]
pub struct Input {
    /// Manifests: files, directories (searched recursively), or - for stdin. Namespaces,
    /// Pods, workloads and NetworkPolicies are read; other kinds are ignored.
    #[arg(value_name = "PATH|-")]
    pub paths: Vec<String>,
    /// Read the live cluster with this kubeconfig instead of files.
    #[arg(long, conflicts_with = "paths")]
    pub kubeconfig: Option<PathBuf>,
    /// Read the live cluster from inside a pod (its service account).
    #[arg(long, conflicts_with_all = ["paths", "kubeconfig"])]
    pub in_cluster: bool,
    /// One peer per pod instead of per workload.
    #[arg(long)]
    pub pods: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    Text,
    Json,
    Csv,
    Md,
    Dot,
    Html,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub input: Input,
    #[arg(short = 'o', long, default_value = "text", value_enum)]
    pub output: ListFormat,
    /// Only pairs touching this workload (NAMESPACE/NAME, NAMESPACE/NAME[Kind], or NAME in
    /// the default namespace).
    #[arg(long, value_name = "NS/NAME")]
    pub focus: Option<String>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffFormat {
    Text,
    Json,
    Md,
}

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The manifests before the change (a file or directory).
    pub old: String,
    /// The manifests after the change.
    pub new: String,
    #[arg(short = 'o', long, default_value = "text", value_enum)]
    pub output: DiffFormat,
    /// One peer per pod instead of per workload.
    #[arg(long)]
    pub pods: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct ExplainArgs {
    /// The source: NAMESPACE/NAME[Kind], NAMESPACE/NAME, NAME (default namespace), or an IPv4
    /// address or CIDR outside the cluster.
    pub src: String,
    /// The destination, as SRC.
    pub dst: String,
    #[command(flatten)]
    pub input: Input,
    /// One port: NUMBER[/PROTOCOL] or NAME[/PROTOCOL] (a named port of the destination);
    /// protocol TCP by default.
    #[arg(long, value_name = "PORT/PROTO")]
    pub port: Option<String>,
    #[arg(short = 'o', long, default_value = "text", value_enum)]
    pub output: ExplainFormat,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
    Sarif,
    Html,
}

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: Input,
    #[arg(short = 'o', long, default_value = "table", value_enum)]
    pub output: AuditFormat,
}

pub fn run(command: NetpolCommand) -> anyhow::Result<u8> {
    match command {
        NetpolCommand::List(args) => run_list(&args),
        NetpolCommand::Diff(args) => run_diff(&args),
        NetpolCommand::Explain(args) => run_explain(&args),
        NetpolCommand::Audit(args) => run_audit(&args),
    }
}

fn granularity(pods: bool) -> Granularity {
    if pods {
        Granularity::Pods
    } else {
        Granularity::Workloads
    }
}

/// Every object of the input, files or the live cluster.
fn objects(input: &Input) -> anyhow::Result<Vec<Value>> {
    if input.kubeconfig.is_some() || input.in_cluster {
        return live_objects(input);
    }
    if input.paths.is_empty() {
        anyhow::bail!(
            "give manifest files or directories (- for stdin), or --kubeconfig/--in-cluster"
        );
    }
    read_objects(&input.paths)
}

fn read_objects(paths: &[String]) -> anyhow::Result<Vec<Value>> {
    let (files, errors) = podsec_cluster::files::read_paths(paths);
    if let Some(e) = errors.first() {
        anyhow::bail!("{}: {}", e.name, e.message);
    }
    let mut out = Vec::new();
    for file in &files {
        let name = file.format_hint.as_deref().unwrap_or(&file.name);
        out.extend(crate::constraints::documents(name, &file.bytes)?);
    }
    Ok(out)
}

fn live_objects(input: &Input) -> anyhow::Result<Vec<Value>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = Vec::new();
    runtime.block_on(async {
        let connection = podsec_cluster::connect(input.kubeconfig.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!(podsec_cluster::error_chain(&e)))?;
        let view = podsec_cluster::LiveCluster::unwatched(connection.client)
            .with_server(&connection.server);
        let mut bad = None;
        podsec_cluster::fetch_snapshot(
            &view,
            &mut |text| match serde_json::from_str::<Value>(text) {
                Ok(v) => out.push(v),
                Err(e) => bad = Some(e),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!(podsec_cluster::error_chain(&e)))?;
        if let Some(e) = bad {
            anyhow::bail!("the API server sent an object that is not JSON: {e}");
        }
        anyhow::Ok(())
    })?;
    Ok(out)
}

fn topology(objects: &[Value], pods: bool, what: &str) -> anyhow::Result<Topology> {
    Topology::from_objects(objects, granularity(pods)).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{what}: nothing analysed:\n  {}", lines.join("\n  "))
    })
}

fn load(input: &Input) -> anyhow::Result<Topology> {
    let objects = objects(input)?;
    let what = if input.paths.is_empty() {
        "the cluster".to_string()
    } else {
        input.paths.join(", ")
    };
    topology(&objects, input.pods, &what)
}

/// Finds a workload by `ns/name[Kind]`, `ns/name` or `name` (default namespace).
fn find_workload(topology: &Topology, text: &str) -> anyhow::Result<usize> {
    let (base, kind) = match text.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((base, kind)) => (base, Some(kind)),
        None => (text, None),
    };
    let (namespace, name) = base.split_once('/').unwrap_or(("default", base));
    let found: Vec<usize> = topology
        .workloads
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            w.namespace == namespace && w.name == name && kind.is_none_or(|k| k == w.kind)
        })
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => anyhow::bail!(
            "no workload {text} in the input ({} workloads; names are NAMESPACE/NAME or NAMESPACE/NAME[Kind], as `podsec netpol list` prints them)",
            topology.workloads.len()
        ),
        many => anyhow::bail!(
            "{text} names {} workloads ({}): add the kind, e.g. {}",
            many.len(),
            many.iter().map(|&i| topology.workloads[i].kind.as_str()).collect::<Vec<_>>().join(", "),
            topology.workloads[many[0]].id()
        ),
    }
}

fn find_endpoint(topology: &Topology, text: &str) -> anyhow::Result<Endpoint> {
    let as_cidr = if text.contains('/') {
        text.to_string()
    } else {
        format!("{text}/32")
    };
    if text.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        if let Some(range) = podsec_netpol::Cidr::parse(&as_cidr).and_then(|c| c.v4_range()) {
            return Ok(Endpoint::External(range));
        }
    }
    find_workload(topology, text).map(Endpoint::Workload)
}

fn endpoint_name(topology: &Topology, e: Endpoint) -> String {
    match e {
        Endpoint::Workload(w) => topology.workloads[w].id(),
        Endpoint::External(r) => format!("{r}[External]"),
    }
}

fn allowed_json(c: &Connections) -> Value {
    let mut map = serde_json::Map::new();
    for p in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
        map.insert(
            p.as_str().into(),
            Value::Array(
                c.ports(p)
                    .ranges()
                    .iter()
                    .map(|&(a, b)| json!([a, b]))
                    .collect(),
            ),
        );
    }
    Value::Object(map)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn run_list(args: &ListArgs) -> anyhow::Result<u8> {
    let topology = load(&args.input)?;
    let focus = args
        .focus
        .as_deref()
        .map(|f| find_workload(&topology, f))
        .transpose()?;
    let connectivity = Connectivity::compute(&topology);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // The list of a large cluster is hundreds of MiB: it is streamed, never held. A write
    // error (a reader that went away) stops the writing and is returned.
    let mut failed: Option<std::io::Error> = None;
    let mut emit = |out: &mut std::io::BufWriter<std::io::StdoutLock<'_>>,
                    text: std::fmt::Arguments<'_>| {
        if failed.is_none() {
            if let Err(e) = std::io::Write::write_fmt(out, text) {
                failed = Some(e);
            }
        }
    };
    match args.output {
        ListFormat::Text => connectivity.visit(focus, &mut |l| {
            emit(
                &mut out,
                format_args!("{} => {} : {}\n", l.src_name, l.dst_name, l.connections),
            );
        }),
        ListFormat::Csv => {
            emit(&mut out, format_args!("src,dst,conn\n"));
            connectivity.visit(focus, &mut |l| {
                emit(
                    &mut out,
                    format_args!(
                        "{},{},{}\n",
                        csv_field(l.src_name),
                        csv_field(l.dst_name),
                        csv_field(&l.connections.to_string())
                    ),
                );
            });
        }
        ListFormat::Md => {
            emit(
                &mut out,
                format_args!("| src | dst | conn |\n|-----|-----|------|\n"),
            );
            connectivity.visit(focus, &mut |l| {
                emit(
                    &mut out,
                    format_args!("| {} | {} | {} |\n", l.src_name, l.dst_name, l.connections),
                );
            });
        }
        ListFormat::Json => {
            // Streamed too: one connection object per line inside the array.
            emit(&mut out, format_args!("{{\n  \"connections\": ["));
            let mut first = true;
            connectivity.visit(focus, &mut |l| {
                let item = json!({
                    "src": l.src_name,
                    "dst": l.dst_name,
                    "conn": l.connections.to_string(),
                    "allowed": allowed_json(l.connections),
                });
                let sep = if first { "" } else { "," };
                first = false;
                emit(&mut out, format_args!("{sep}\n    {item}"));
            });
            let summary = json!({
                "workloads": topology.workloads.len(),
                "namespaces": topology.namespaces.len(),
                "policies": topology.policies.len(),
                "equivalenceClasses": connectivity.class_count(),
                "externalSources": connectivity.external_sources().len(),
                "externalDestinations": connectivity.external_destinations().len(),
            });
            let close = if first { "]" } else { "\n  ]" };
            emit(
                &mut out,
                format_args!("{close},\n  \"summary\": {summary}\n}}\n"),
            );
        }
        ListFormat::Dot => {
            let text = dot(&connectivity, focus);
            emit(&mut out, format_args!("{text}"));
        }
        ListFormat::Html => {
            let text = html_matrix(&connectivity, focus);
            emit(&mut out, format_args!("{text}"));
        }
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    std::io::Write::flush(&mut out)?;
    Ok(0)
}

fn dot_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A Graphviz graph: a cluster per namespace, external ranges as boxes, an edge per pair.
fn dot(connectivity: &Connectivity<'_>, focus: Option<usize>) -> String {
    let topology = connectivity.topology();
    let mut nodes: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut edges = String::new();
    connectivity.visit(focus, &mut |l| {
        nodes.insert(l.src_name.to_string());
        nodes.insert(l.dst_name.to_string());
        let _ = writeln!(
            edges,
            "  {} -> {} [label={}];",
            dot_quote(l.src_name),
            dot_quote(l.dst_name),
            dot_quote(&l.connections.to_string())
        );
    });
    let mut out = String::from("digraph netpol {\n  rankdir=LR;\n  node [shape=ellipse];\n");
    for (i, ns) in topology.namespaces.keys().enumerate() {
        let members: Vec<String> = topology
            .workloads
            .iter()
            .filter(|w| &w.namespace == ns)
            .map(podsec_netpol::Workload::id)
            .filter(|id| focus.is_none() || nodes.contains(id))
            .collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "  subgraph cluster_{i} {{\n    label={};",
            dot_quote(ns)
        );
        for m in members {
            let _ = writeln!(out, "    {};", dot_quote(&m));
        }
        out.push_str("  }\n");
    }
    for n in nodes.iter().filter(|n| n.ends_with("[External]")) {
        let _ = writeln!(out, "  {} [shape=box, color=red];", dot_quote(n));
    }
    out.push_str(&edges);
    out.push_str("}\n");
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An interactive matrix: rows are sources, columns destinations, grouped by namespace
/// (collapsible), a filter by workload, and the policies behind each cell. The matrix itself
/// is static HTML; the script only adds interaction.
fn html_matrix(connectivity: &Connectivity<'_>, focus: Option<usize>) -> String {
    let topology = connectivity.topology();
    let mut peers: Vec<(String, String, Endpoint)> = topology
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| (w.namespace.clone(), w.id(), Endpoint::Workload(i)))
        .collect();
    let mut seen_ext = std::collections::BTreeSet::new();
    for r in connectivity
        .external_sources()
        .iter()
        .chain(connectivity.external_destinations())
    {
        if seen_ext.insert(*r) {
            peers.push((
                "(external)".into(),
                format!("{r}[External]"),
                Endpoint::External(*r),
            ));
        }
    }
    if let Some(f) = focus {
        // Keep the focused workload and the peers it talks with.
        let mut keep = std::collections::BTreeSet::new();
        connectivity.visit(Some(f), &mut |l| {
            keep.insert(l.src);
            keep.insert(l.dst);
        });
        keep.insert(Endpoint::Workload(f));
        peers.retain(|p| keep.contains(&p.2));
    }
    peers.sort();
    let mut body = String::new();
    body.push_str(
        "<table id=\"matrix\"><thead><tr><th class=\"corner\">source \\ destination</th>",
    );
    for (ns, id, _) in &peers {
        let _ = write!(
            body,
            "<th class=\"col\" data-ns=\"{}\" data-peer=\"{}\"><span>{}</span></th>",
            html_escape(ns),
            html_escape(id),
            html_escape(id)
        );
    }
    body.push_str("</tr></thead><tbody>");
    let mut current_ns = String::new();
    for (ns, src_id, src) in &peers {
        if *ns != current_ns {
            current_ns.clone_from(ns);
            let _ = write!(
                body,
                "<tr class=\"ns\" data-ns=\"{0}\"><th colspan=\"{1}\"><button class=\"toggle\" data-ns=\"{0}\">&#9662; {0}</button></th></tr>",
                html_escape(ns),
                peers.len() + 1
            );
        }
        let _ = write!(
            body,
            "<tr class=\"row\" data-ns=\"{}\" data-peer=\"{}\"><th class=\"rowh\">{}</th>",
            html_escape(ns),
            html_escape(src_id),
            html_escape(src_id)
        );
        for (dst_ns, dst_id, dst) in &peers {
            let cell = connectivity.get(*src, *dst);
            match cell {
                None => {
                    let _ = write!(
                        body,
                        "<td class=\"na\" data-ns=\"{}\"></td>",
                        html_escape(dst_ns)
                    );
                }
                Some(c) => {
                    let why = cell_policies(topology, *src, *dst);
                    let class = if c.is_all() {
                        "all"
                    } else if c.is_empty() {
                        "none"
                    } else {
                        "some"
                    };
                    let title = format!("{src_id} => {dst_id} : {c}\n{why}");
                    let _ = write!(
                        body,
                        "<td class=\"{class}\" data-ns=\"{}\" title=\"{}\">{}</td>",
                        html_escape(dst_ns),
                        html_escape(&title),
                        match class {
                            "all" => "&#10003;",
                            "none" => "&#183;",
                            _ => "&#9680;",
                        }
                    );
                }
            }
        }
        body.push_str("</tr>");
    }
    body.push_str("</tbody></table>");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>podsec netpol: connectivity</title>\n<style>{CSS}</style></head>\n<body><h1>NetworkPolicy connectivity</h1>\n<p class=\"summary\">{} workloads in {} namespaces, {} NetworkPolicies. &#10003; all connections, &#9680; some (hover for ports and the policies behind the cell), &#183; none.</p>\n<p><label>Filter workloads: <input id=\"filter\" type=\"search\" placeholder=\"namespace/name\"></label></p>\n<div id=\"detail\" class=\"detail\">Click a cell for its connections and policies.</div>\n{body}\n<script>{SCRIPT}</script></body></html>\n",
        topology.workloads.len(),
        topology.namespaces.len(),
        topology.policies.len(),
    )
}

/// The policies that decide a cell: those isolating each side and the rules admitting.
fn cell_policies(topology: &Topology, src: Endpoint, dst: Endpoint) -> String {
    let e = explain(topology, src, dst);
    let mut parts = Vec::new();
    for side in [&e.egress, &e.ingress].into_iter().flatten() {
        let dir = side.direction.as_str();
        if side.isolating.is_empty() {
            parts.push(format!("{dir}: not isolated"));
        } else if side.admitting.is_empty() {
            parts.push(format!(
                "{dir}: denied by isolation ({})",
                side.isolating.join(", ")
            ));
        } else {
            let rules: Vec<String> = side
                .admitting
                .iter()
                .map(|r| format!("{} {}", r.policy, r.rule))
                .collect();
            parts.push(format!("{dir}: allowed by {}", rules.join(", ")));
        }
    }
    parts.join("\n")
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1em}table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ddd;padding:2px 4px}th.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}td{text-align:center;cursor:pointer}td.all{background:#f6c6c6}td.some{background:#fde7b0}td.none{background:#d8f0d8}td.na{background:#eee}tr.ns th{text-align:left;background:#f0f4ff}.hidden{display:none}.detail{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;margin:.5em 0;min-height:2em}button.toggle{border:none;background:none;font-weight:bold;cursor:pointer}";

const SCRIPT: &str = r#"(function(){
var collapsed={};
function apply(){
  var q=document.getElementById('filter').value.toLowerCase();
  document.querySelectorAll('#matrix [data-ns]').forEach(function(el){
    if(el.tagName==='BUTTON')return;
    var ns=el.getAttribute('data-ns');var peer=el.getAttribute('data-peer');
    var hide=false;
    if(el.classList.contains('row')||el.classList.contains('col')){hide=collapsed[ns]||(q&&peer.toLowerCase().indexOf(q)<0);}
    else if(el.tagName==='TD'){hide=!!collapsed[ns];}
    el.classList.toggle('hidden',!!hide);
  });
  var cols=[].slice.call(document.querySelectorAll('#matrix th.col'));
  document.querySelectorAll('#matrix tr.row').forEach(function(row){
    var cells=row.querySelectorAll('td');
    cols.forEach(function(c,i){if(cells[i])cells[i].classList.toggle('hidden',c.classList.contains('hidden'));});
  });
}
document.getElementById('filter').addEventListener('input',apply);
document.querySelectorAll('button.toggle').forEach(function(b){
  b.addEventListener('click',function(){var ns=b.getAttribute('data-ns');collapsed[ns]=!collapsed[ns];apply();});
});
document.querySelectorAll('#matrix td[title]').forEach(function(td){
  td.addEventListener('click',function(){document.getElementById('detail').textContent=td.getAttribute('title');});
});
document.body.setAttribute('data-rendered','yes');
})();"#;

fn run_diff(args: &DiffArgs) -> anyhow::Result<u8> {
    let old_objects = read_objects(std::slice::from_ref(&args.old))?;
    let new_objects = read_objects(std::slice::from_ref(&args.new))?;
    let old = topology(&old_objects, args.pods, &args.old)?;
    let new = topology(&new_objects, args.pods, &args.new)?;
    let lines = diff(&old, &new);
    let mut out = String::new();
    match args.output {
        DiffFormat::Text => {
            if !lines.is_empty() {
                out.push_str("Connectivity diff:\n");
                for l in &lines {
                    let _ = writeln!(out, "{l}");
                }
            }
        }
        DiffFormat::Md => {
            out.push_str("| diff-type | source | destination | ref1 | ref2 | workloads-diff-info |\n|-----------|--------|-------------|------|------|---------------------|\n");
            for l in &lines {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    l.kind.as_str(),
                    l.src,
                    l.dst,
                    l.old,
                    l.new,
                    l.info().unwrap_or_default()
                );
            }
        }
        DiffFormat::Json => {
            let items: Vec<Value> = lines.iter().map(diff_json).collect();
            out = serde_json::to_string_pretty(
                &json!({ "diff": items, "changed": !lines.is_empty() }),
            )?;
            out.push('\n');
        }
    }
    crate::write_stdout(&out)?;
    Ok(u8::from(!lines.is_empty()))
}

fn diff_json(l: &DiffLine) -> Value {
    let mut v = json!({
        "diffType": l.kind.as_str(),
        "src": l.src,
        "dst": l.dst,
        "ref1": l.old.to_string(),
        "ref2": l.new.to_string(),
    });
    if let (Some(info), Some(map)) = (l.info(), v.as_object_mut()) {
        map.insert("workloadsDiffInfo".into(), Value::String(info));
    }
    v
}

/// `NUMBER[/PROTO]` or `NAME[/PROTO]`.
fn parse_port(text: &str) -> anyhow::Result<(Result<u16, String>, Protocol)> {
    let (port, proto) = text.split_once('/').unwrap_or((text, "TCP"));
    let protocol = Protocol::parse(&proto.to_ascii_uppercase())
        .with_context(|| format!("--port {text}: protocol {proto} is not TCP, UDP or SCTP"))?;
    let port = match port.parse::<u16>() {
        Ok(0) => anyhow::bail!("--port {text}: ports are 1-65535"),
        Ok(n) => Ok(n),
        Err(_) if port.parse::<u64>().is_ok() => anyhow::bail!("--port {text}: ports are 1-65535"),
        Err(_) => Err(port.to_string()),
    };
    Ok((port, protocol))
}

fn run_explain(args: &ExplainArgs) -> anyhow::Result<u8> {
    let topology = load(&args.input)?;
    let src = find_endpoint(&topology, &args.src)?;
    let dst = find_endpoint(&topology, &args.dst)?;
    if matches!((src, dst), (Endpoint::External(_), Endpoint::External(_))) {
        anyhow::bail!(
            "{} and {} are both outside the cluster: NetworkPolicies do not decide that",
            args.src,
            args.dst
        );
    }
    let e = explain(&topology, src, dst);
    let port = match &args.port {
        None => None,
        Some(text) => {
            let (port, protocol) = parse_port(text)?;
            let number = match (port, dst) {
                (Ok(n), _) => n,
                (Err(name), Endpoint::Workload(d)) => topology.workloads[d]
                    .ports
                    .iter()
                    .find(|p| p.name == name && p.protocol == protocol)
                    .map(|p| p.port)
                    .with_context(|| {
                        format!(
                            "--port {text}: {} declares no {} port named {name}",
                            topology.workloads[d].id(),
                            protocol.as_str()
                        )
                    })?,
                (Err(name), Endpoint::External(_)) => anyhow::bail!(
                    "--port {text}: a named port ({name}) needs a workload destination"
                ),
            };
            Some((number, protocol))
        }
    };
    let allowed = match port {
        Some((n, p)) => e.allowed.allows(p, n),
        None => !e.allowed.is_empty(),
    };
    let (src_name, dst_name) = (endpoint_name(&topology, src), endpoint_name(&topology, dst));
    let out = match args.output {
        ExplainFormat::Text => explain_text(&src_name, &dst_name, &e, port, allowed),
        ExplainFormat::Json => {
            let side = |s: &Option<podsec_netpol::Side>| {
                s.as_ref().map(|s| {
                    json!({
                        "direction": s.direction.as_str(),
                        "isolatedBy": s.isolating,
                        "admittedBy": s.admitting.iter().map(|r| json!({"policy": r.policy, "rule": r.rule, "conn": r.allows.to_string()})).collect::<Vec<_>>(),
                        "conn": s.allows.to_string(),
                    })
                })
            };
            let mut doc = serde_json::to_string_pretty(&json!({
                "src": src_name,
                "dst": dst_name,
                "port": port.map(|(n, p)| format!("{n}/{}", p.as_str())),
                "allowed": allowed,
                "conn": e.allowed.to_string(),
                "egress": side(&e.egress),
                "ingress": side(&e.ingress),
            }))?;
            doc.push('\n');
            doc
        }
    };
    crate::write_stdout(&out)?;
    Ok(u8::from(!allowed))
}

fn explain_text(
    src: &str,
    dst: &str,
    e: &Explanation,
    port: Option<(u16, Protocol)>,
    allowed: bool,
) -> String {
    let mut out = String::new();
    let what = match port {
        Some((n, p)) => format!(" on {}/{n}", p.as_str()),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{src} => {dst}{what}: {}",
        if allowed { "ALLOWED" } else { "DENIED" }
    );
    let _ = writeln!(out, "  connections: {}", e.allowed);
    for (side, owner) in [(&e.egress, src), (&e.ingress, dst)] {
        let Some(side) = side else { continue };
        let dir = side.direction.as_str();
        let verb = match side.direction {
            Direction::Egress => "egress of",
            Direction::Ingress => "ingress of",
        };
        if side.isolating.is_empty() {
            let _ = writeln!(out, "  {verb} {owner}: not isolated (no NetworkPolicy selects it for {dir}): all traffic allowed");
            continue;
        }
        let _ = writeln!(
            out,
            "  {verb} {owner}: isolated by {}",
            side.isolating.join(", ")
        );
        if side.admitting.is_empty() {
            let peer = if side.direction == Direction::Egress {
                dst
            } else {
                src
            };
            let _ = writeln!(out, "    no rule of these policies admits {peer}: denied");
        }
        for r in &side.admitting {
            let _ = writeln!(out, "    {} {} admits it: {}", r.policy, r.rule, r.allows);
        }
        let _ = writeln!(out, "    {dir} allows: {}", side.allows);
    }
    out
}

fn run_audit(args: &AuditArgs) -> anyhow::Result<u8> {
    let topology = load(&args.input)?;
    let found = gaps(&topology);
    let out = match args.output {
        AuditFormat::Table => gaps_table(&found),
        AuditFormat::Json => {
            let mut s = serde_json::to_string_pretty(&gaps_json(&topology, &found))?;
            s.push('\n');
            s
        }
        AuditFormat::Sarif => {
            let mut s = serde_json::to_string_pretty(&gaps_sarif(&found))?;
            s.push('\n');
            s
        }
        AuditFormat::Html => gaps_html(&topology, &found),
    };
    crate::write_stdout(&out)?;
    Ok(0)
}

pub fn gaps_table(found: &[Gap]) -> String {
    let mut out = String::new();
    let width = found
        .iter()
        .map(|g| g.kind.id().len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "{:width$}  {:20}  MESSAGE", "GAP", "NAMESPACE");
    for g in found {
        let _ = writeln!(
            out,
            "{:width$}  {:20}  {}",
            g.kind.id(),
            g.namespace,
            g.message
        );
    }
    let _ = writeln!(out, "{} findings", found.len());
    out
}

pub fn gaps_json(topology: &Topology, found: &[Gap]) -> Value {
    let mut counts = std::collections::BTreeMap::new();
    for g in found {
        *counts.entry(g.kind.id()).or_insert(0usize) += 1;
    }
    json!({
        "findings": found.iter().map(|g| json!({
            "gap": g.kind.id(),
            "namespace": g.namespace,
            "subject": g.subject,
            "field": g.field,
            "message": g.message,
        })).collect::<Vec<_>>(),
        "summary": {
            "workloads": topology.workloads.len(),
            "namespaces": topology.namespaces.len(),
            "policies": topology.policies.len(),
            "byGap": counts,
        },
    })
}

fn gaps_sarif(found: &[Gap]) -> Value {
    let mut rules: Vec<&str> = found.iter().map(|g| g.kind.id()).collect();
    rules.sort_unstable();
    rules.dedup();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "podsec",
                "informationUri": "https://github.com/podsec/podsec",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.iter().map(|r| json!({"id": r, "shortDescription": {"text": gap_description(r)}})).collect::<Vec<_>>(),
            }},
            "results": found.iter().map(|g| json!({
                "ruleId": g.kind.id(),
                "level": "warning",
                "message": {"text": g.message},
                "locations": [{"logicalLocations": [{
                    "fullyQualifiedName": match &g.field { Some(f) => format!("{} {f}", g.subject), None => g.subject.clone() },
                    "kind": "resource",
                }]}],
            })).collect::<Vec<_>>(),
        }],
    })
}

fn gap_description(id: &str) -> &'static str {
    match id {
        "no-default-deny-ingress" => "Namespace without a default-deny Ingress NetworkPolicy",
        "no-default-deny-egress" => "Namespace without a default-deny Egress NetworkPolicy",
        "unprotected-ingress" => "Workload no NetworkPolicy isolates for Ingress",
        "unprotected-egress" => "Workload no NetworkPolicy isolates for Egress",
        "policy-selects-nothing" => "NetworkPolicy whose podSelector matches no workload",
        "peer-matches-nothing" => "NetworkPolicy rule peer that matches no workload",
        _ => "Named port that no destination declares",
    }
}

/// A static page (no script needed): counts and a table of findings.
fn gaps_html(topology: &Topology, found: &[Gap]) -> String {
    let mut rows = String::new();
    for g in found {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            g.kind.id(),
            html_escape(&g.namespace),
            html_escape(&g.subject),
            html_escape(&g.message)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>podsec netpol audit</title><style>{CSS}</style></head><body><h1>NetworkPolicy gaps</h1><p class=\"summary\">{} workloads in {} namespaces, {} NetworkPolicies: {} findings.</p><table><thead><tr><th>gap</th><th>namespace</th><th>subject</th><th>message</th></tr></thead><tbody>{rows}</tbody></table></body></html>\n",
        topology.workloads.len(),
        topology.namespaces.len(),
        topology.policies.len(),
        found.len()
    )
}
