# Sourced by .ci/run (and by anyone whose machine has an older Node.js):
# puts Node.js 24, the LTS line flashfarm supports (package.json "engines"),
# first on PATH. When the machine's node is older, the official build comes
# from the npm registry's node-linux-<arch> package (the same binaries as
# nodejs.org) into ~/.cache/flashfarm/node-<version>; nothing else is
# downloaded. Usage: source .ci/node.sh
FLASHFARM_NODE_VERSION=24.22.3
flashfarm_node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$flashfarm_node_major" -lt 24 ]; then
  case "$(uname -m)" in
    x86_64) flashfarm_node_arch=x64 ;;
    aarch64 | arm64) flashfarm_node_arch=arm64 ;;
    *) echo "No Node.js 24 package for $(uname -m): install Node.js 24 yourself" >&2; return 1 ;;
  esac
  flashfarm_node_dir="${XDG_CACHE_HOME:-$HOME/.cache}/flashfarm/node-$FLASHFARM_NODE_VERSION"
  flashfarm_node_bin="$flashfarm_node_dir/node_modules/node-linux-$flashfarm_node_arch/bin"
  if [ ! -x "$flashfarm_node_bin/node" ]; then
    echo "Installing Node.js $FLASHFARM_NODE_VERSION (npm package node-linux-$flashfarm_node_arch) into $flashfarm_node_dir"
    mkdir -p "$flashfarm_node_dir"
    npm install --prefix "$flashfarm_node_dir" --no-save --no-package-lock --ignore-scripts \
      --no-audit --no-fund --loglevel=error "node-linux-$flashfarm_node_arch@$FLASHFARM_NODE_VERSION" >/dev/null
  fi
  export PATH="$flashfarm_node_bin:$PATH"
fi
echo "Node.js $(node --version), npm $(npm --version)"
unset flashfarm_node_major flashfarm_node_arch flashfarm_node_dir flashfarm_node_bin
