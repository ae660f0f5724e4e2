"""launch/tpu.py: the exact gcloud commands, the worker scripts run in a fake
$HOME, and the CLI's --dry_run output and error lines. No network, no gcloud."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap

import pytest

from launch import tpu_commands as tc
from launch import tpu_remote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T = tc.Target("rtt-v5e", "us-west4-a", "my-proj")
SSH = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "rtt-v5e", "--zone=us-west4-a",
       "--project=my-proj", "--worker=all"]
QR = ["gcloud", "compute", "tpus", "queued-resources"]
MAIN = ["--config=configs/base.py:v5e-64", "--workdir=gs://bkt/runs/demo", "--mode=train_eval"]


# --- commands ------------------------------------------------------------------------------

@pytest.mark.parametrize("provisioning, extra", [("spot", ["--spot"]), ("reserved", ["--reserved"]),
                                                 ("on-demand", [])])
def test_create_is_one_queued_resource(provisioning, extra):
    assert tc.create_commands(T, "v5litepod-64", provisioning=provisioning) == [
        QR + ["create", "rtt-v5e", "--node-id=rtt-v5e", "--zone=us-west4-a", "--project=my-proj",
              "--accelerator-type=v5litepod-64", "--runtime-version=v2-alpha-tpuv5-lite", *extra]]


def test_create_without_project_and_with_explicit_runtime():
    assert tc.create_commands(tc.Target("t", "us-east5-b"), "v6e-8", "v2-alpha-tpuv6e-x") == [
        QR + ["create", "t", "--node-id=t", "--zone=us-east5-b", "--accelerator-type=v6e-8",
              "--runtime-version=v2-alpha-tpuv6e-x"]]


def test_runtime_version_defaults_per_generation():
    assert [tc.runtime_version_for(a) for a in ("v5litepod-64", "v5p-128", "v6e-8", "v4-32")] == [
        "v2-alpha-tpuv5-lite", "v2-alpha-tpuv5", "v2-alpha-tpuv6e", "tpu-ubuntu2204-base"]
    with pytest.raises(ValueError, match="pass --runtime_version"):
        tc.runtime_version_for("v9-8")
    with pytest.raises(ValueError, match="GENERATION-SIZE"):
        tc.runtime_version_for("v5e")


def test_setup_by_copy_archives_head_and_scps_it_to_every_worker():
    cmds = tc.setup_commands(T, tarball="/tmp/r.tar.gz", revision="abc123", repo="/src")
    assert cmds[:2] == [
        ["git", "-C", "/src", "archive", "--format=tar.gz", "--output=/tmp/r.tar.gz", "abc123"],
        ["gcloud", "compute", "tpus", "tpu-vm", "scp", "/tmp/r.tar.gz", "rtt-v5e:rtt_jax.tar.gz",
         "--zone=us-west4-a", "--project=my-proj", "--worker=all"]]
    assert cmds[2] == SSH + ["--command=" + tpu_remote.setup_script(revision="abc123")]
    script = cmds[2][-1]
    for part in ('tar -xzf "$HOME/rtt_jax.tar.gz" -C "$HOME/rtt_jax"',
                 "curl -LsSf https://astral.sh/uv/install.sh | sh",
                 'uv venv --quiet --python 3.11 "$HOME/rtt_jax_venv"',
                 'uv pip install --quiet --python "$HOME/rtt_jax_venv/bin/python" -e '
                 '"$HOME/rtt_jax[tpu]"', 'echo abc123 > "$HOME/rtt_jax/GIT_COMMIT"'):
        assert part in script


def test_setup_by_git_ref_clones_on_every_worker():
    [cmd] = tc.setup_commands(T, git_url="https://example.com/r.git", git_ref="v1")
    assert cmd[:-1] == SSH
    assert ('git clone --quiet https://example.com/r.git "$HOME/rtt_jax"; '
            'git -C "$HOME/rtt_jax" checkout --quiet v1;') in cmd[-1]
    assert "tar -xzf" not in cmd[-1]


def test_run_is_detached_on_every_worker_with_distributed_and_per_worker_logs():
    [cmd] = tc.run_commands(T, MAIN, "demo")
    assert cmd[:-1] == SSH and cmd[-1].startswith("--command=")
    script = cmd[-1][len("--command="):]
    assert script == tpu_remote.run_script(MAIN, "demo", "gs://bkt/runs/demo")
    for part in ("export W D RTT_JAX_DISTRIBUTED=1 PYTHONUNBUFFERED=1",
                 'D="$HOME/rtt_jax_logs/"demo', "setsid nohup bash -c ",
                 '"$HOME/rtt_jax_venv/bin/python" -m rtt_jax.main ' + shlex.join(MAIN)
                 + ' > "$D/worker_$W.log" 2>&1',
                 'gcloud storage cp --quiet "$D/worker_$W.log" "$D/worker_$W.exit" '
                 "gs://bkt/runs/demo/logs/", "while sleep 300"):
        assert part in script, part
    assert tc.default_run_name(MAIN) == "bkt_runs_demo"
    assert tc.default_run_name(["--workdir", "/a/b,c=1/seed_0/"]) == "a_b_c=1_seed_0"


def test_logs_stop_status_delete():
    assert tc.logs_commands(T, "demo", worker=3, lines=20) == [
        SSH[:-1] + ["--worker=3", "--command=" + tpu_remote.logs_script("demo", 20)]]
    assert 'tail -n 20 -F "$D"/worker_*.log' in tc.logs_commands(T, follow=True, lines=20)[0][-1]
    assert tc.stop_commands(T, "demo") == [SSH + ["--command=" + tpu_remote.stop_script("demo")]]
    assert tc.status_commands(T) == [
        QR + ["describe", "rtt-v5e", "--zone=us-west4-a", "--project=my-proj",
              "--format=value(state.state)"],
        SSH + ["--command=" + tpu_remote.status_script()]]
    assert tc.delete_commands(T) == [QR + ["delete", "rtt-v5e", "--zone=us-west4-a",
                                           "--project=my-proj", "--force"]]
    assert tc.delete_commands(T, yes=True)[0][-1] == "--quiet"
    with pytest.raises(ValueError, match="--run_name=a b"):
        tc.stop_commands(T, "a b")


def test_status_parsing():
    out = "worker 0: demo: exited 0\nWARNING: something\n[w1] worker 1: demo: running (pid 7)\n"
    states = tpu_remote.parse_status(out, "demo")
    assert states == {"0": "exited 0", "1": "running (pid 7)"}
    assert tpu_remote.exit_status(states) is None
    assert tpu_remote.exit_status({"0": "exited 0", "1": "exited 0"}) == 0
    assert tpu_remote.exit_status({"0": "exited 0", "1": "exited 143"}) == 143
    assert tpu_remote.exit_status({"0": "not started"}) == 1


# --- the worker scripts, run by bash in a fake $HOME -------------------------------------

def _bash(script: str, home, **env) -> str:
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300,
                          env={"HOME": str(home), "PATH": f"{home}/bin:/usr/bin:/bin", **env})
    return proc.stdout + proc.stderr


def _fake_worker(home):
    """``home`` as a worker's $HOME: setup done, ``curl`` answering the
    metadata server (worker 3), and a ``python`` that echoes its arguments,
    sleeps ``$FAKE_SLEEP`` and exits with ``$FAKE_RC``."""
    for d in ("bin", "rtt_jax", "rtt_jax_venv/bin"):
        (home / d).mkdir(parents=True)
    fake = {"bin/curl": "echo 3",
            "rtt_jax_venv/bin/python": 'echo "main $* dist=$RTT_JAX_DISTRIBUTED"; '
                                       'sleep "${FAKE_SLEEP:-0}"; exit "${FAKE_RC:-0}"'}
    for path, body in fake.items():
        (home / path).write_text(f"#!/bin/bash\n{body}\n")
        (home / path).chmod(0o755)
    return home


@pytest.mark.slow
def test_worker_scripts_parse_and_run(tmp_path):
    for script in (tpu_remote.setup_script(revision="x"), tpu_remote.setup_script("u", "r"),
                   tpu_remote.run_script(MAIN, "demo", "gs://b/w"), tpu_remote.stop_script(),
                   tpu_remote.status_script("demo"), tpu_remote.logs_script(follow=True)):
        assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    home = _fake_worker(tmp_path)
    wd = home / "work dir"
    out = _bash(tpu_remote.run_script(["--workdir", str(wd)], "r1", str(wd)), home, FAKE_RC="5")
    assert "worker 3: started r1" in out and "worker_3.log" in out
    for _ in range(100):
        status = _bash(tpu_remote.status_script("r1"), home)
        if "exited" in status:
            break
    assert status.strip() == "worker 3: r1: exited 5"
    assert (wd / "logs" / "worker_3.log").read_text() == f"main -m rtt_jax.main --workdir {wd} dist=1\n"
    assert "main -m rtt_jax.main" in _bash(tpu_remote.logs_script(), home)
    out = _bash(tpu_remote.run_script(["--workdir=x"], "r2", None), home, FAKE_SLEEP="60")
    assert "already running" in _bash(tpu_remote.run_script(["--workdir=x"], "r2", None), home)
    assert "stop it first" in _bash(tpu_remote.setup_script(revision="x"), home)
    assert _bash(tpu_remote.stop_script(), home).splitlines() == [
        "worker 3: r1: not running", "worker 3: r2: stopped"]
    assert _bash(tpu_remote.status_script(), home).splitlines() == [
        "worker 3: r1: exited 5", "worker 3: r2: exited 143"]


# --- the CLI -------------------------------------------------------------------------------

def _cli(*args: str, module: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPU_")}
    env["PATH"] = os.path.dirname(sys.executable)  # no gcloud: a slip can never reach a real one
    entry = ["-m", "launch.tpu"] if module else ["launch/tpu.py"]
    return subprocess.run([sys.executable, *entry, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_cli_dry_run_prints_each_command_on_one_line():
    flags = ["--name=rtt-v5e", "--zone=us-west4-a", "--project=my-proj", "--dry_run"]
    proc = _cli("create", *flags, "--accelerator_type=v5litepod-64", "--spot")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == shlex.join(tc.create_commands(T, "v5litepod-64", provisioning="spot")[0]) + "\n"
    proc = _cli("run", *flags, "--wait", "--", *MAIN, module=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [shlex.split(lines[0])] == tc.run_commands(T, MAIN, "bkt_runs_demo")
    assert lines[1].startswith("# then, every 60s") and "--worker=all" in lines[2]


@pytest.mark.slow
def test_cli_bad_flags_are_one_line():
    cases = {("create", "--name=a", "--zone=z", "--accelerator_type=v5litepod-8", "--spot",
              "--reserved"): "error: --spot and --reserved are mutually exclusive",
             ("run", "--name=a", "--zone=z", "--workdir=gs://b"):
                 "error: --workdir: rtt_jax.main's flags go after --",
             ("run", "--name=a", "--zone=z", "--", "--workdir=gs://b", "--dry_run"):
                 "error: --dry_run after --: launch/tpu.py's own flags go before --"}
    for args, line in cases.items():
        proc = _cli(*args)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(line), proc.stderr


def test_experiment_runner_lines_use_the_launcher():
    from rtt_jax.experiments.execute import tpu_commands
    from rtt_jax.experiments.plan import Run
    run = Run("traces", 0, "gs://b/e/traces/seed_0",
              ("-m", "rtt_jax.main", "--mode=train_eval", "--config=c.py:tpu/traces",
               "--workdir=gs://b/e/traces/seed_0"))
    assert tpu_commands([run]) == [textwrap.dedent("""\
        python3 launch/tpu.py run --wait -- --mode=train_eval --config=c.py:tpu/traces \
--workdir=gs://b/e/traces/seed_0""")]


@pytest.mark.slow
def test_cli_runs_and_waits_through_gcloud(tmp_path):
    """The real (not dry) path against a fake gcloud that runs each ssh
    script here, as a one-worker slice: run --wait exits with the run's status."""
    home = _fake_worker(tmp_path)
    (home / "bin/gcloud").write_text(textwrap.dedent("""\
        #!/bin/bash
        for a in "$@"; do case "$a" in --command=*) exec bash -c "${a#--command=}";; esac; done
        case "$*" in *describe*) echo ACTIVE;; esac
        """))
    (home / "bin/gcloud").chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{home}/bin:/usr/bin:/bin", "FAKE_RC": "3",
           "TPU_NAME": "rtt-v5e", "TPU_ZONE": "us-west4-a"}
    wd = home / "wd"
    proc = subprocess.run([sys.executable, "launch/tpu.py", "run", "--wait", "--poll_s=1", "--",
                           f"--workdir={wd}"], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "worker 3: started" in proc.stdout and ": 1 exited 3" in proc.stdout
    assert (wd / "logs" / "worker_3.exit").read_text() == "3\n"
    proc = subprocess.run([sys.executable, "launch/tpu.py", "status"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.stdout.splitlines() == ["queued resource rtt-v5e: ACTIVE",
                                        f"worker 3: {tc.default_run_name([f'--workdir={wd}'])}: "
                                        "exited 3"]
