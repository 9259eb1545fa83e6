#!/usr/bin/env bash
# Builds the hub's or the agent's container image without a container engine: an OCI image
# layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md) of one layer
# holding the binary, exactly the shared libraries `ldd` names (glibc from this Debian), CA
# certificates and /etc/passwd and /etc/group with the non-root user 65532 — nothing else, no
# shell (distroless-like). The image runs as 65532:65532; the only writable paths it needs are
# the volumes it declares (/var/lib/kubeworkz for the hub's SQLite file) and /tmp.
#
# Reproducible: entries sorted, owners numeric, every mtime SOURCE_DATE_EPOCH (default 0),
# gzip without a name or time, JSON written one way: the same binary gives the same digest.
#
# Usage:
#   build.sh hub|agent [--release] [--binary PATH] [--out DIR] [--tag TAG]
#     --release   build the binary with `cargo build --release` (default: debug)
#     --binary    use this binary instead of building one (the CI test passes cargo's)
#     --out       the OCI layout directory (default: <target dir>/images/kubeworkz-<name>),
#                 replaced on every build
#     --tag       the reference name in the layout (default: the binary's version)
# Stdout is the image manifest's digest (sha256:…); progress goes to stderr.
#
# Publishing (any OCI tool reads the layout):
#   skopeo copy oci:DIR:TAG docker://ghcr.io/kubeworkz/kubeworkz-hub:TAG
#   crane push DIR ghcr.io/kubeworkz/kubeworkz-hub:TAG
# then set the chart's image.digest to the digest printed here.
set -euo pipefail

log() { echo "[image] $*" >&2; }
usage() { echo "usage: $0 hub|agent [--release] [--binary PATH] [--out DIR] [--tag TAG]" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

which=${1:-}
case $which in hub|agent) ;; *) usage ;; esac
shift
name=kubeworkz-$which
profile=debug
binary=
out=
tag=
while [[ $# -gt 0 ]]; do
  case $1 in
    --release) profile=release ;;
    --binary) binary=${2:?--binary needs a path}; shift ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --tag) tag=${2:?--tag needs a name}; shift ;;
    *) usage ;;
  esac
  shift
done

for tool in tar gzip sha256sum jq ldd; do
  command -v "$tool" >/dev/null || { log "missing required tool: $tool"; exit 1; }
done

if [[ -z $binary || -z $out ]]; then
  target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
fi
if [[ -z $binary ]]; then
  log "cargo build ($profile) -p $name"
  flags=(--locked -p "$name" --bin "$name")
  [[ $profile == release ]] && flags+=(--release)
  (cd "$repo" && cargo build "${flags[@]}" >&2)
  binary=$target_dir/$profile/$name
fi
[[ -x $binary ]] || { log "not an executable: $binary"; exit 1; }
out=${out:-$target_dir/images/$name}
version=$("$binary" --version | awk '{print $2}')
[[ -n $version ]] || { log "$binary --version printed no version"; exit 1; }
tag=${tag:-$version}
epoch=${SOURCE_DATE_EPOCH:-0}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{etc/ssl/certs,tmp,home/nonroot,var/lib/kubeworkz,usr/local/bin}

install -m 0755 "$binary" "$root/usr/local/bin/$name"
# Exactly the libraries the dynamic loader will ask for, at the paths it asks for them.
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
if ldd "$binary" | grep -q 'not found'; then
  log "$binary needs a library this machine lacks:"; ldd "$binary" >&2; exit 1
fi
for lib in $libs; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
  chmod 0755 "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
  'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$root/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$root/etc/group"
find "$root" -type d -exec chmod 0755 {} +
find "$root/etc" -type f -exec chmod 0644 {} +
chmod 1777 "$root/tmp"

# One layer: everything root-owned, then the non-root user's directories appended as theirs.
tar_flags=(--sort=name --mtime="@$epoch" --numeric-owner --format=posix
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$root")
owned=(./home/nonroot ./var/lib/kubeworkz)
tar "${tar_flags[@]}" --owner=0 --group=0 "${owned[@]/#/--exclude=}" -cf "$work/layer.tar" .
tar "${tar_flags[@]}" --owner=65532 --group=65532 --no-recursion -rf "$work/layer.tar" "${owned[@]}"
gzip -n <"$work/layer.tar" >"$work/layer.tar.gz"

rm -rf "$out"
mkdir -p "$out/blobs/sha256"
# Stores stdin's file as a blob; prints "sha256:HEX SIZE".
blob() {
  local file=$1 hex
  hex=$(sha256sum "$file" | cut -d' ' -f1)
  cp "$file" "$out/blobs/sha256/$hex"
  echo "sha256:$hex $(stat -c %s "$file")"
}
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
read -r layer_digest layer_size < <(blob "$work/layer.tar.gz")

if [[ $which == hub ]]; then
  cmd='["serve"]'
  env='["KUBEWORKZ_LISTEN=0.0.0.0:8080","KUBEWORKZ_DATABASE_URL=sqlite:///var/lib/kubeworkz/kubeworkz.db"]'
  ports='{"8080/tcp":{},"7443/udp":{}}'
  volumes='{"/var/lib/kubeworkz":{}}'
else
  cmd='["run"]'
  env='[]'
  ports='{"9090/tcp":{}}'
  volumes='{}'
fi
jq -cn --arg created "$created" --arg entry "/usr/local/bin/$name" --arg diff "$diff_id" \
  --arg name "$name" --arg version "$version" \
  --argjson cmd "$cmd" --argjson env "$env" --argjson ports "$ports" --argjson volumes "$volumes" '{
  created: $created, architecture: "amd64", os: "linux",
  config: {
    User: "65532:65532", Entrypoint: [$entry], Cmd: $cmd, WorkingDir: "/var/lib/kubeworkz",
    Env: (["PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"] + $env),
    ExposedPorts: $ports, Volumes: $volumes,
    Labels: {"org.opencontainers.image.title": $name, "org.opencontainers.image.version": $version,
             "org.opencontainers.image.source": "https://github.com/kubeworkz/kubeworkz"}
  },
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: $created, created_by: "manifests/images/build.sh"}]
}' >"$work/config.json"
read -r config_digest config_size < <(blob "$work/config.json")

jq -cn --arg cd "$config_digest" --argjson cs "$config_size" \
  --arg ld "$layer_digest" --argjson ls "$layer_size" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
}' >"$work/manifest.json"
read -r manifest_digest manifest_size < <(blob "$work/manifest.json")

jq -cn --arg md "$manifest_digest" --argjson ms "$manifest_size" --arg tag "$tag" '{
  schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $md, size: $ms,
               annotations: {"org.opencontainers.image.ref.name": $tag}}]
}' >"$out/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"

log "$name $version: $out (tag $tag, layer $((layer_size / 1024)) KiB)"
log "chart value: --set image.digest=$manifest_digest"
echo "$manifest_digest"
