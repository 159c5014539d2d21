#!/usr/bin/env bash
# Builds podsec's container image without a container daemon (umoci + skopeo), then proves
# it: unpacks it, runs `podsec --version` and `podsec check` from its root filesystem in a
# chroot as the image's user, and checks its config (user, entrypoint, labels) with
# `skopeo inspect`. The Deployment in deploy/base must name the image this script makes.
#
#   scripts/build-image.sh                  # perf-profile binary (what the image ships)
#   PODSEC_IMAGE_PROFILE=debug scripts/build-image.sh   # reuse the test build (CI: same
#                                            # steps, minutes cheaper; the image is bigger)
#
# Output in target/image/:
#   oci/                    OCI image layout, tag = podsec's version
#   podsec-oci.tar          the same as an oci-archive
#   podsec-docker.tar       docker-archive named like the Deployment's image, for
#                           `kind load image-archive` / `minikube image load` / `docker load`
#
# The image holds exactly what the binary needs at run time: the binary, the shared libraries
# `ldd` names (glibc, libm, libgcc_s, the loader), CA certificates, /etc/passwd and /etc/group
# with the non-root user 65532 the Deployment runs as, and an empty /tmp. No shell.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

profile="${PODSEC_IMAGE_PROFILE:-perf}"
repository="ghcr.io/podsec/podsec"
uid=65532

need() {
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umoci skopeo binutils >/dev/null
  else
    echo "build-image.sh: needs ${missing[*]} (Debian packages umoci, skopeo, binutils)" >&2
    exit 1
  fi
}
need umoci skopeo strip ldd

if [ "$(id -u)" != 0 ]; then
  echo "build-image.sh: must run as root (umoci unpack keeps file owners; the check runs in a chroot)" >&2
  exit 1
fi

if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
if [ "$profile" = debug ]; then
  cargo build --locked -p podsec
else
  cargo build --locked -p podsec --profile "$profile"
fi
binary="$root/target/$profile/podsec"
version="$("$binary" --version | awk '{print $2}')"
image="$repository:$version"

deployed="$(awk '$1 == "image:" {print $2}' deploy/base/deployment.yaml)"
if [ "$deployed" != "$image" ]; then
  echo "build-image.sh: deploy/base/deployment.yaml runs '$deployed', this build makes '$image': make them agree" >&2
  exit 1
fi

out="$root/target/image"
rm -rf "$out"
mkdir -p "$out"
stage="$out/stage"
mkdir -p "$stage/usr/local/bin" "$stage/etc/ssl/certs" "$stage/tmp"
chmod 1777 "$stage/tmp"
strip -o "$stage/usr/local/bin/podsec" "$binary"

# The shared libraries the binary links, at the paths the loader looks for them.
ldd "$binary" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done

if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/"
fi
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' "$uid" "$uid" > "$stage/etc/passwd"
printf 'root:x:0:\nnonroot:x:%s:\n' "$uid" > "$stage/etc/group"
mkdir -p "$stage/home/nonroot"
chown "$uid:$uid" "$stage/home/nonroot"

layout="$out/oci"
created="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci insert --image "$layout:$version" --history.created_by "scripts/build-image.sh ($profile)" "$stage" /
umoci config --image "$layout:$version" \
  --created "$created" --architecture amd64 --os linux \
  --config.user "$uid:$uid" \
  --config.entrypoint /usr/local/bin/podsec --config.cmd serve --config.cmd --help \
  --config.workingdir /home/nonroot \
  --config.env PATH=/usr/local/bin \
  --config.label "org.opencontainers.image.title=podsec" \
  --config.label "org.opencontainers.image.description=Kubernetes pod security: Pod Security Standards admission, PodSecurityPolicy revived, Gatekeeper policies, exceptions, NetworkPolicy analysis" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --config.label "org.opencontainers.image.created=$created" \
  --config.label "org.opencontainers.image.licenses=Apache-2.0" \
  --config.label "org.opencontainers.image.source=https://github.com/podsec/podsec" \
  --manifest.annotation "org.opencontainers.image.ref.name=$version"
umoci gc --layout "$layout"

skopeo copy --quiet "oci:$layout:$version" "oci-archive:$out/podsec-oci.tar:$image"
skopeo copy --quiet "oci:$layout:$version" "docker-archive:$out/podsec-docker.tar:$image"

# The image's config must say what the Deployment relies on.
config="$(skopeo inspect --config "oci:$layout:$version")"
inspect="$(skopeo inspect "oci:$layout:$version")"
python3 - "$config" "$inspect" "$uid" "$version" <<'EOF'
import json, sys
config, inspect, uid, version = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
c = config["config"]
problems = []
if c.get("User") != f"{uid}:{uid}":
    problems.append(f"user is {c.get('User')!r}, not {uid}:{uid} (the Deployment's runAsUser)")
if c.get("Entrypoint") != ["/usr/local/bin/podsec"]:
    problems.append(f"entrypoint is {c.get('Entrypoint')!r}")
labels = inspect.get("Labels") or {}
for key in ("title", "version", "source", "licenses", "revision", "created"):
    if not labels.get(f"org.opencontainers.image.{key}"):
        problems.append(f"label org.opencontainers.image.{key} missing")
if labels.get("org.opencontainers.image.version") != version:
    problems.append("version label differs from the binary's version")
if config.get("architecture") != "amd64" or config.get("os") != "linux":
    problems.append("platform is not linux/amd64")
if problems:
    sys.exit("skopeo inspect: " + "; ".join(problems))
print(f"skopeo inspect: user {c['User']}, entrypoint {c['Entrypoint']}, cmd {c.get('Cmd')}, {len(labels)} labels")
EOF

# Run it from the unpacked image, as the image's user, with nothing of the host visible.
bundle="$out/bundle"
umoci unpack --image "$layout:$version" "$bundle" >/dev/null
rootfs="$bundle/rootfs"
if [ -e "$rootfs/bin/sh" ] || [ -e "$rootfs/usr/bin/sh" ]; then
  echo "build-image.sh: the image has a shell; it should hold only podsec and its libraries" >&2
  exit 1
fi
reported="$(chroot --userspec="$uid:$uid" "$rootfs" /usr/local/bin/podsec --version)"
[ "$reported" = "podsec $version" ] || { echo "build-image.sh: podsec --version in the image said '$reported'" >&2; exit 1; }
set +e
chroot --userspec="$uid:$uid" "$rootfs" /usr/local/bin/podsec check - --level restricted < examples/web-deployment.yaml > "$out/check.txt"
status=$?
set -e
if [ "$status" != 1 ] || ! grep -q "runAsNonRoot" "$out/check.txt"; then
  echo "build-image.sh: podsec check in the image exited $status (expected 1 with the restricted violations):" >&2
  cat "$out/check.txt" >&2
  exit 1
fi
chroot --userspec="$uid:$uid" "$rootfs" /usr/local/bin/podsec check - --level baseline < examples/web-deployment.yaml > "$out/check-baseline.txt"

compressed="$(python3 - "$layout" "$version" <<'EOF'
import json, sys, os
layout, version = sys.argv[1], sys.argv[2]
index = json.load(open(os.path.join(layout, "index.json")))
manifest = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == version)
blob = lambda d: os.path.join(layout, "blobs", *d["digest"].split(":"))
m = json.load(open(blob(manifest)))
print(sum(layer["size"] for layer in m["layers"]))
EOF
)"
unpacked="$(du -sb "$rootfs" | awk '{print $1}')"
rm -rf "$bundle" "$stage"
echo "image $image ($profile): $((compressed / 1024)) KiB compressed, $((unpacked / 1024)) KiB unpacked"
echo "ran from the image's root filesystem as $uid: podsec --version, podsec check (restricted: exit 1, baseline: exit 0)"
echo "layout $layout, archives $out/podsec-oci.tar and $out/podsec-docker.tar"
