#!/usr/bin/env bash
# A container engine and the two local images CI needs, on a machine that reaches Debian's
# packages but no image registry (../shared/reference/containers-here.md):
#   local/postgres:15  PostgreSQL from Debian with our own entrypoint (images/postgres-entrypoint.sh)
#                      honouring POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB / PGDATA
#   local/python:3.11  python3 + python3-venv, the BASE_IMAGE the project's Dockerfile is built on
#
# usage: bash .ci/containers.sh [engine|images|all]   (default all)
# Exit status non-zero means "no engine or no images": .ci/run then falls back to the host's
# PostgreSQL. Images are rebuilt only when their recipe (this file, images/) changes: an engine
# that holds them keeps them; outside CI each is also saved under $CI_CACHE_DIR (default
# .ci/cache, gitignored) and docker-loaded from there into an engine that does not.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_dir="${CI_CACHE_DIR:-$here/cache}"  # also holds dockerd's log and pid
dockerd_log="${DOCKERD_LOG:-$cache_dir/dockerd.log}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# Without the updates and security suites the image gets an older minor release.
sources=(
    "deb $mirror $suite main"
    "deb $mirror $suite-updates main"
    "deb $security_mirror $suite-security main"
)
# Documentation, manuals and translations: a third of the image, never read in a container.
slim=(
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
)
PG_IMAGE=local/postgres:15
PY_IMAGE=local/python:3.11

say() { printf '[containers %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing ${missing[*]}"
    # .ci/run updates the package lists once; alone, this script does it itself.
    [ -n "${CI_APT_UPDATED:-}" ] || apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/dev/null
}

engine() {
    if docker info >/dev/null 2>&1; then
        say "a Docker engine already answers"
        return 0
    fi
    apt_install docker.io
    clear_stale_pidfile
    mkdir -p "$(dirname "$dockerd_log")"
    say "starting dockerd (log: $dockerd_log)"
    # setsid: dockerd outlives this script; .ci/run stops it by the pid written here.
    setsid dockerd >"$dockerd_log" 2>&1 </dev/null &
    echo $! >"$cache_dir/dockerd.pid"
    local deadline=$((SECONDS + 30))
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$(cat "$cache_dir/dockerd.pid")" 2>/dev/null; then
            say "dockerd exited at start; the end of its log:"
            tail -n 20 "$dockerd_log" >&2
            rm -f "$cache_dir/dockerd.pid"
            return 1
        fi
        if [ $SECONDS -ge $deadline ]; then
            say "dockerd did not answer within 30 s; the end of its log:"
            tail -n 20 "$dockerd_log" >&2
            kill "$(cat "$cache_dir/dockerd.pid")" 2>/dev/null || true
            rm -f "$cache_dir/dockerd.pid"
            return 1
        fi
        sleep 0.2
    done
    say "dockerd answers: $(docker version --format 'server {{.Server.Version}}')"
}

# A dockerd killed without its shutdown leaves /var/run/docker.pid, and a new one refuses to
# start while that pid is alive: here, at times, as a zombie or as another process.
clear_stale_pidfile() {
    local pidfile=/var/run/docker.pid pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] \
        && ! grep -q '^State:.*zombie' "/proc/$pid/status" 2>/dev/null; then
        return 0  # a live dockerd that does not answer: let the start fail and say why
    fi
    say "removing the stale $pidfile (pid $pid is no running dockerd)"
    rm -f "$pidfile"
}

recipe_hash() {
    cat "$here/containers.sh" "$here"/images/* | sha256sum | cut -c1-16
}

# have IMAGE HASH: the engine holds IMAGE built from this recipe, loading the cache if needed.
have() {
    local image="$1" hash="$2" tarball="$cache_dir/${1//[\/:]/-}-$2.tar"
    if [ "$(docker image inspect "$image" --format '{{index .Config.Labels "brevo-sync.recipe"}}' \
        2>/dev/null)" = "$hash" ]; then
        say "$image: already in the engine (recipe $hash)"
        return 0
    fi
    if [ -s "$tarball" ]; then
        say "$image: loading $(basename "$tarball")"
        docker load -q -i "$tarball" >/dev/null && return 0
        say "$image: the cached tarball does not load; building instead"
    fi
    return 1
}

# save IMAGE HASH: cache the image as a tarball, dropping those of older recipes.
save() {
    local image="$1" hash="$2" stem="$cache_dir/${1//[\/:]/-}"
    # A fresh CI clone's .ci/cache goes with the clone, while the engine keeps its images:
    # there a tarball would serve no one. CI_CACHE_DIR names a cache that outlives the clone.
    if [ "${CI:-}" = true ] && [ -z "${CI_CACHE_DIR:-}" ]; then
        say "$image: kept by the engine only (set CI_CACHE_DIR to keep a tarball too)"
        return 0
    fi
    rm -f "$stem"-*.tar
    docker save -o "$stem-$hash.tar.part" "$image" && mv "$stem-$hash.tar.part" "$stem-$hash.tar"
    say "$image: cached as $(basename "$stem-$hash.tar")"
}

# build IMAGE HASH PACKAGES [mmdebstrap options...] -- [docker import --change...]
build() {
    local image="$1" hash="$2" packages="$3"
    shift 3
    local opts=() changes=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    for change in "$@" "LABEL brevo-sync.recipe=$hash"; do changes+=(-c "$change"); done
    apt_install mmdebstrap gpg
    say "$image: building from Debian $suite packages ($packages)"
    # Its own session: on failure mmdebstrap signals its whole process group, which would
    # otherwise take .ci/run down with it.
    setsid --wait mmdebstrap --quiet --variant=minbase --include="$packages" "${slim[@]}" "${opts[@]}" \
        "$suite" - "${sources[@]}" | docker import "${changes[@]}" - "$image" >/dev/null
    # The previous build of this tag, now untagged.
    docker image prune -f --filter label=brevo-sync.recipe >/dev/null
    say "$image: built, $(docker image inspect "$image" --format '{{.Size}}' \
        | awk '{printf "%d MB", $1 / 1e6}')"
}

postgres_image() {
    local hash="$1"
    have "$PG_IMAGE" "$hash" && return 0
    build "$PG_IMAGE" "$hash" postgresql-15 \
        --essential-hook='mkdir -p "$1/etc/postgresql-common" && echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.conf"' \
        --customize-hook="copy-in $here/images/postgres-entrypoint.sh /usr/local/bin" \
        --customize-hook='chmod 755 "$1/usr/local/bin/postgres-entrypoint.sh"' \
        -- \
        'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        'ENV LANG=C.UTF-8' \
        'ENV PGDATA=/var/lib/postgresql/data' \
        'USER postgres' \
        'EXPOSE 5432' \
        'ENTRYPOINT ["postgres-entrypoint.sh"]'
    save "$PG_IMAGE" "$hash"
}

python_image() {
    local hash="$1" extra_ca=()
    have "$PY_IMAGE" "$hash" && return 0
    # The machine's own extra roots (this workplace reaches PyPI through a TLS-inspecting
    # egress): pip inside `docker build` must trust what pip on the host trusts. Only this
    # local base carries them; the Dockerfile's public default base does not.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        extra_ca=(
            --customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"'
            --customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"'
            --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1'
        )
    fi
    build "$PY_IMAGE" "$hash" python3,python3-venv,ca-certificates,passwd "${extra_ca[@]}" -- \
        'ENV LANG=C.UTF-8' \
        'CMD ["python3"]'
    save "$PY_IMAGE" "$hash"
}

images() {
    mkdir -p "$cache_dir"
    local hash
    hash="$(recipe_hash)"
    postgres_image "$hash"
    python_image "$hash"
}

case "${1:-all}" in
    engine) mkdir -p "$cache_dir"; engine ;;
    images) images ;;
    all) mkdir -p "$cache_dir"; engine; images ;;
    *) echo "usage: $0 [engine|images|all]" >&2; exit 2 ;;
esac
