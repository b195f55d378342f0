# Shared by quickstart.sh and demo-ui.sh (sourced from the repository root): the install, the demo
# configuration for a simulator port, the demo credentials and the simulated district.

DEMO_CONFIG=examples/integrations.demo.yaml
DEMO_PORT=8201   # the simulator port examples/integrations.demo.yaml names
INSTALLED_STAMP=.venv/.sis-pipeline-installed

# Install the package and the simulators into .venv, unless they are and neither pyproject.toml changed since.
demo_install() {
  if [ -x .venv/bin/sis-pipeline ] && [ -f "$INSTALLED_STAMP" ] &&
    [ ! pyproject.toml -nt "$INSTALLED_STAMP" ] && [ ! simulators/pyproject.toml -nt "$INSTALLED_STAMP" ] &&
    .venv/bin/python -c 'import sis_simulators' 2>/dev/null; then
    return
  fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e simulators/   # a separate distribution
  touch "$INSTALLED_STAMP"
}

# The demo configuration for a simulator on port $1: the example itself on its own port, else a copy under
# .data/ with the port changed. Prints its path.
demo_config() {
  if [ "$1" = "$DEMO_PORT" ]; then
    echo "$PWD/$DEMO_CONFIG"
  else
    (umask 077 && mkdir -p .data)
    sed "s#127.0.0.1:$DEMO_PORT/#127.0.0.1:$1/#g" "$DEMO_CONFIG" > ".data/integrations.demo.$1.yaml"
    echo "$PWD/.data/integrations.demo.$1.yaml"
  fi
}

# Demo credentials for the simulator only; a real integration reads its own from the environment.
demo_credentials() {
  export SIS_SIM_CLIENT_ID=demo-client SIS_SIM_CLIENT_SECRET="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  export DEMO_ONEROSTER_CLIENT_ID=$SIS_SIM_CLIENT_ID DEMO_ONEROSTER_CLIENT_SECRET=$SIS_SIM_CLIENT_SECRET
}

# Start the simulated district ($1 students on port $2, log in $3) in the background; sets $simulator and
# returns once it answers, or fails with its log.
demo_simulator() {
  .venv/bin/sis-pipeline simulate oneroster --students "$1" --host 127.0.0.1 --port "$2" > "$3" 2>&1 &
  simulator=$!
  until .venv/bin/python -c "import httpx; httpx.get('http://127.0.0.1:$2/admin/totals').raise_for_status()" 2>/dev/null; do
    if ! kill -0 "$simulator" 2>/dev/null; then
      echo "the simulator did not start (port $2 taken?):" >&2
      cat "$3" >&2
      return 1
    fi
    sleep 0.2
  done
}
