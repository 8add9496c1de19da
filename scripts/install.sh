#!/usr/bin/env bash
# Install hermes from the checkout this script lives in (`make install`):
#
#   $HERMES_HOME/versions/<version>/{hermes,hermes-gateway,version.json}
#   $HERMES_HOME/current -> versions/<version>     what the units run
#   $HERMES_BIN_DIR/hermes -> $HERMES_HOME/current/hermes
#   $HERMES_HOME/source.json                       where `hermes update` updates from
#   $HERMES_MAN_DIR/man1/{hermes,hermes-gateway}.1 `man hermes-gateway`
#
# then `hermes install-unit --gateway $HERMES_HOME/current/hermes-gateway`,
# with this script's arguments passed on (e.g. --no-start). --no-install-unit
# (or HERMES_SKIP_INSTALL_UNIT=1) skips that step, for CI without a user
# manager. HERMES_HOME defaults to ~/.local/lib/hermes, HERMES_BIN_DIR to
# ~/.local/bin, HERMES_MAN_DIR to ~/.local/share/man (which man-db's manpath
# finds through ~/.local/bin on PATH). Idempotent: the same build again
# replaces nothing.
set -euo pipefail
unset CDPATH
cd "$(dirname "$0")/.."
src=$(pwd -P)
pkg=github.com/hermes-gateway/hermes/pkg/version

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: %s\n' "$*" >&2; exit 1; }
json() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

install_unit=1
[[ ${HERMES_SKIP_INSTALL_UNIT:-} == 1 ]] && install_unit=0
unit_args=()
for a in "$@"; do
  if [[ $a == --no-install-unit ]]; then install_unit=0; else unit_args+=("$a"); fi
done

home=${HERMES_HOME:-$HOME/.local/lib/hermes}
bindir=${HERMES_BIN_DIR:-$HOME/.local/bin}
mkdir -p "$home/versions" "$bindir"
home=$(cd "$home" && pwd) bindir=$(cd "$bindir" && pwd)

# The Go toolchain: on PATH, else where the official tarball puts it.
go=$(command -v go || true)
if [[ -z $go && -x /usr/local/go/bin/go ]]; then go=/usr/local/go/bin/go; fi
[[ -n $go ]] || die "no Go toolchain: put go on PATH or unpack it in /usr/local/go (https://go.dev/dl)"

# The version: VERSION plus the short git revision, v0.1.0+abc1234.
isgit=0 rev='' modified=''
if [[ $(git rev-parse --show-toplevel 2>/dev/null) == "$src" ]]; then
  isgit=1
  rev=$(git rev-parse --verify -q HEAD || true)
  if [[ -n $(git status --porcelain --untracked-files=no) ]]; then modified=true; fi
fi
semver=$(tr -d '[:space:]' <VERSION)
version=v${semver#v}
if [[ -n $rev ]]; then version+=+${rev:0:7}; fi

# Keep `hermes update` out while this runs (the same lock it takes).
exec 9>>"$home/update.lock"
if command -v flock >/dev/null; then
  flock -n 9 || die "another hermes update is running ($(cat "$home/update.lock")); wait for it to finish"
  printf '{"pid":%d,"since":"%s"}\n' $$ "$(date -u +%FT%TZ)" >"$home/update.lock"
fi

# Build into a staging directory next to the versions (`hermes update`
# cleans up one left behind by a killed run).
stage=$(mktemp -d "$home/versions/.staging-$$-XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
ldflags="-X $pkg.Version=$version -X $pkg.Revision=$rev -X $pkg.Modified=$modified"
say "building $version from $src${modified:+ (with uncommitted changes)}"
"$go" build -trimpath -ldflags "$ldflags" -o "$stage/hermes-gateway" ./cmd/gateway
"$go" build -trimpath -ldflags "$ldflags" -o "$stage/hermes" ./cmd/hermes
"$stage/hermes-gateway" --version >/dev/null || die "the new hermes-gateway does not run"
printf '{"version":%s,"revision":%s,"installed_at":"%s","source":%s}\n' \
  "$(json "$version")" "$(json "$rev")" "$(date -u +%FT%TZ)" "$(json "scripts/install.sh from $src")" >"$stage/version.json"

# Install the version: a new one is renamed into place; the same version
# built differently (uncommitted changes) has its binaries replaced, each
# with an atomic rename; an identical one is left alone.
dest=$home/versions/$version
if [[ -d $dest ]] && cmp -s "$stage/hermes" "$dest/hermes" && cmp -s "$stage/hermes-gateway" "$dest/hermes-gateway"; then
  say "$version is already installed in $dest; nothing replaced"
elif [[ -d $dest ]]; then
  for f in hermes-gateway hermes version.json; do mv -f "$stage/$f" "$dest/$f"; done
  say "replaced the build of $version in $dest (it differed)"
else
  mv "$stage" "$dest"
  say "installed $version in $dest"
fi

# Point current at it: a new link renamed over the old one, never missing.
old=$(readlink "$home/current" 2>/dev/null || true)
if [[ $old == "versions/$version" ]]; then
  say "current is already $version"
else
  ln -sfn "versions/$version" "$home/.current.tmp"
  mv -fT "$home/.current.tmp" "$home/current"
  say "current: ${old:+${old##*/} → }$version"
fi

# The CLI on PATH follows current.
link=$home/current/hermes
if [[ $(readlink "$bindir/hermes" 2>/dev/null || true) != "$link" ]]; then
  [[ -e $bindir/hermes && ! -L $bindir/hermes ]] && die "$bindir/hermes exists and is not a link; move it away and run this again"
  ln -sfn "$link" "$bindir/.hermes.tmp"
  mv -fT "$bindir/.hermes.tmp" "$bindir/hermes"
  say "linked $bindir/hermes → $link"
fi
case ":$PATH:" in *":$bindir:"*) ;; *) say "note: $bindir is not on your PATH" ;; esac

# The manual pages the units' Documentation= lines point at, written by the
# version just installed. A failure here is worth a note, not the install.
mandir=${HERMES_MAN_DIR:-$HOME/.local/share/man}
if "$home/current/hermes" man "$mandir" >/dev/null; then
  say "manual pages: man hermes, man hermes-gateway ($mandir/man1)"
else
  say "note: could not write the manual pages into $mandir/man1"
fi

# Where `hermes update` updates from: this checkout and its upstream.
if ((isgit)); then
  branch=$(git symbolic-ref -q --short HEAD || true) remote='' rbranch=''
  if [[ -n $branch ]]; then
    remote=$(git config "branch.$branch.remote" || true)
    rbranch=$(git config "branch.$branch.merge" || true)
    rbranch=${rbranch#refs/heads/}
  fi
  if [[ -z $remote ]] && git remote get-url origin >/dev/null 2>&1; then remote=origin rbranch=$branch; fi
  srcjson=$(printf '{"kind":"git","checkout":%s,"remote":%s,"branch":%s,"go":%s}' \
    "$(json "$src")" "$(json "$remote")" "$(json "$rbranch")" "$(json "$go")")
  if [[ -z $remote || -z $rbranch ]]; then say "note: $src has no upstream branch; \`hermes update\` needs one (git branch --set-upstream-to=origin/main)"; fi
else
  srcjson=$(printf '{"kind":"none","checkout":%s,"go":%s}' "$(json "$src")" "$(json "$go")")
  say "note: $src is not a git checkout; \`hermes update\` will need --from DIR"
fi
if [[ $(cat "$home/source.json" 2>/dev/null || true) != "$srcjson" ]]; then
  printf '%s\n' "$srcjson" >"$home/.source.json.tmp"
  mv -f "$home/.source.json.tmp" "$home/source.json"
  say "recorded the update source in $home/source.json"
fi

# Done with the layout: let `hermes update` in again.
: >"$home/update.lock"
exec 9>&-

if ((install_unit)); then
  say "running hermes install-unit${unit_args[*]:+ ${unit_args[*]}}"
  "$bindir/hermes" install-unit --gateway "$home/current/hermes-gateway" ${unit_args[@]+"${unit_args[@]}"}
else
  say "skipped hermes install-unit; run it yourself: $bindir/hermes install-unit --gateway $home/current/hermes-gateway"
fi
