#!/usr/bin/env bash
# Builds the sandbox's job image: a venv with lm-eval and the TrustyAI job image's library pins
# (tools/jobimage-constraints.txt), once, into a cache outside the repository keyed by a hash of the
# constraints file, and does nothing when it is already there. No torch (see the constraints file).
# Prints the venv directory on stdout as its last line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
constraints="$here/jobimage-constraints.txt"
key=$(sha256sum "$constraints" | cut -c1-12)
root=${LMEVAL_JOBIMAGE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/lmeval-setup/jobimage}
venv="$root/$key"
python=${PY:-python3}

hubdata="$here/../lmeval_setup/sandbox/hubdata.py"
hub="$venv/hub/$(sha256sum "$hubdata" | cut -c1-12)"

# The Hub stand-in's tokenizers and datasets, generated with the venv's `tokenizers` (own key: hubdata.py).
make_hub() {
  [ -f "$hub/.done" ] && return 0
  rm -rf "$hub" && mkdir -p "$hub"
  "$venv/bin/python" "$hubdata" "$hub" && touch "$hub/.done"
}

# lm-eval's index of its bundled tasks, saved once (lmeval_setup/sandbox/taskindex_cache.py says why),
# and the per-process name table (podhosts.py).
cache_task_index() {
  local site src="$here/../lmeval_setup/sandbox/taskindex_cache.py"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  if ! cmp -s "$src" "$site/_lmeval_sandbox_taskindex.py" || [ ! -f "$venv/lmeval-sandbox-taskindex.pickle" ]; then
    rm -f "$venv/lmeval-sandbox-taskindex.pickle"
    cp "$src" "$site/_lmeval_sandbox_taskindex.py"
    echo 'import _lmeval_sandbox_taskindex; _lmeval_sandbox_taskindex.install()' > "$site/_lmeval_sandbox_taskindex.pth"
    (cd "$venv" && "$venv/bin/python" -c 'from lm_eval.tasks import TaskManager; TaskManager()' 2>/dev/null)
  fi
  # Cluster-local names for the job's process only (lmeval_setup/sandbox/podhosts.py).
  # Replaced only when changed, and atomically: a job starting meanwhile never imports half a file.
  if ! cmp -s "$here/../lmeval_setup/sandbox/podhosts.py" "$site/_lmeval_sandbox_hosts.py"; then
    cp "$here/../lmeval_setup/sandbox/podhosts.py" "$site/.hosts.tmp" && mv -f "$site/.hosts.tmp" "$site/_lmeval_sandbox_hosts.py"
    echo 'import _lmeval_sandbox_hosts; _lmeval_sandbox_hosts.install()' > "$site/_lmeval_sandbox_hosts.pth"
  fi
}

if [ -f "$venv/.installed" ]; then cache_task_index; make_hub; echo "$venv"; exit 0; fi

# A venv records its own path (pyvenv.cfg, script shebangs), so it is built where it will live; the
# `.installed` stamp written last marks it complete, and a half-built one is removed on failure.
rm -rf "$venv"
mkdir -p "$root"
trap '[ -f "$venv/.installed" ] || rm -rf "$venv"' EXIT
start=$(date +%s)
echo "building the job image venv (lm-eval, no torch) into $venv (first time only; ~1-2 min)" >&2
"$python" -m venv "$venv"
# Every version comes from the constraints file; lm-eval's `api` extra brings requests/aiohttp/tenacity/tiktoken.
{ echo 'lm_eval[api]'; grep -E '^[A-Za-z]' "$constraints" | sed -E 's/==.*//' | grep -v '^lm_eval$'; } > "$venv/requirements.txt"
"$venv/bin/python" -m pip install --quiet --no-warn-script-location -c "$constraints" -r "$venv/requirements.txt"
"$venv/bin/python" -c "import lm_eval.models.openai_completions, datasets, transformers, tokenizers"
touch "$venv/.installed"
cache_task_index
make_hub
echo "built in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)" >&2
echo "$venv"
