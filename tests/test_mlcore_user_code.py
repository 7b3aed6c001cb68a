"""One boundary around the user's model code in mlcore (issue 22, item 3): ``--model FILE.py:NAME`` for
lr-range-test, clr and batch-size-sweep. Import, construction, forward and loss failures, wrong outputs,
``sys.exit`` and ``KeyboardInterrupt`` raised by the file are one line naming the file, the object and what
it returned or raised, exit 2; a real Ctrl-C stays 130; what the file prints never reaches stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from mlcore.cli import main  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
ROOT = Path(__file__).resolve().parents[1]
CPU = ["--device", "cpu", "--threads", "1"]
COMMANDS = {
    "lr-range-test": ["--num-iter", "3", "--batch", "16"],
    "clr": ["--epochs", "1", "--batch", "16", "--base-lr", "0.01", "--max-lr", "0.1"],
    "batch-size-sweep": ["--epochs", "1", "--min-batch", "16", "--max-batch", "16"],
}

HEAD = "import sys\nimport torch\n"
GOOD = HEAD + '''
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
    def forward(self, x):
        {body}
'''

# binds Net after the failing line: the file runs (a Net it never binds is refused from its syntax first)
NAMED = "Net = None\n"

# (file text, NAME, what the one line must say): the data has 4 features and 3 classes
CASES = {
    "import raises": (HEAD + "import no_such_module_xyz\n" + NAMED, "Net", "running the file raised ModuleNotFoundError"),
    "syntax error": ("def (:\n", "Net", "running the file raised SyntaxError"),
    "exit at import": (HEAD + "sys.exit(3)\n" + NAMED, "Net", "running the file called sys.exit(3)"),
    "interrupt at import": (HEAD + "raise KeyboardInterrupt\n" + NAMED, "Net",
                            "raised KeyboardInterrupt itself (no Ctrl-C was pressed)"),
    "construction raises": (HEAD + "class Net(torch.nn.Module):\n    def __init__(self):\n"
                            "        raise RuntimeError('no weights here')\n", "Net",
                            "Net in '{f}': Net() raised RuntimeError: no weights here"),
    "factory returns None": (HEAD + "def Net():\n    return None\n", "Net", "Net in '{f}' gives None, not a torch"),
    "forward raises": (GOOD.format(body="raise IndexError('bad index 7')"), "Net",
                       "Net in '{f}': forward raised IndexError: bad index 7"),
    "forward returns a dict": (GOOD.format(body="return {'logits': self.fc(x)}"), "Net",
                               "Net in '{f}': forward returned a dict with keys ['logits']; return a tensor"),
    "forward returns None": (GOOD.format(body="self.fc(x)"), "Net", "forward returned None; return a tensor"),
    "forward returns an int": (GOOD.format(body="return 3"), "Net", "forward returned an int (3); return a tensor"),
    "wrong number of classes": (GOOD.format(body="return torch.cat([self.fc(x), self.fc(x)], 1)"), "Net",
                                "forward returned a float32 tensor of shape (2, 6) for a batch of 2; return "
                                "logits of shape (2, 3)"),
    "integer output": (GOOD.format(body="return self.fc(x).long()"), "Net", "forward returned a int64 tensor"),
    "forward recurses": (GOOD.format(body="return self(x)"), "Net", "forward recursed too deeply"),
    "exit in forward": (GOOD.format(body="sys.exit(4)"), "Net", "forward called sys.exit(4)"),
    "interrupt in forward": (GOOD.format(body="raise KeyboardInterrupt"), "Net",
                             "forward raised KeyboardInterrupt itself"),
    "loss fails (no gradient)": (GOOD.format(body="return self.fc(x).detach()"), "Net",
                                 "the cross-entropy loss of its output and its backward raised RuntimeError"),
}


def _npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(40, 4)).astype(np.float32), y=(np.arange(40) % 3).astype(np.int64))
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


# every case through lr-range-test; three of them through each other command
RUNS = [("lr-range-test", case) for case in CASES] + [
    (command, case) for command in ("clr", "batch-size-sweep")
    for case in ("import raises", "forward returns a dict", "exit in forward")]


@pytest.mark.parametrize(("command", "case"), RUNS)
def test_user_code_failures_are_one_line(tmp_path, capsys, command, case):
    text, name, message = CASES[case]
    src = tmp_path / "net.py"
    src.write_text(text)
    data = _npz(tmp_path)
    before = _snapshot(tmp_path)
    status = main([command, "--model", f"{src}:{name}", "--data", str(data), *CPU, *COMMANDS[command], "--json",
                   "--plot", str(tmp_path / "p.png")])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("mlcore: error: --model: "), err
    assert message.format(f=src) in err and str(src) in err
    assert out == ""
    assert _snapshot(tmp_path) == before  # no plot, nothing else changed


def test_prints_at_import_and_in_forward_go_to_stderr(tmp_path, capsys):
    src = tmp_path / "net.py"
    src.write_text("print('hello from import')\n" + GOOD.format(body="print('forward'); return self.fc(x)"))
    status = main(["lr-range-test", "--model", f"{src}:Net", "--data", str(_npz(tmp_path)), *CPU,
                   *COMMANDS["lr-range-test"], "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert len(json.loads(out)["lrs"]) == 3  # stdout is the JSON alone
    assert "hello from import" in err and "forward" in err


def test_the_check_does_not_change_the_run(tmp_path, capsys):
    """The up-front try runs on a copy with the random state restored: the same losses as the built-in
    path of the same model object (oracle: load_model_spec without the check, the library call)."""
    from mlcore.lr_range import lr_range_test
    from mlcore.user_inputs import load_data_path, load_model_spec

    src = tmp_path / "net.py"
    src.write_text(GOOD.format(body="return self.fc(torch.nn.functional.dropout(x, 0.5, self.training))"))
    data = _npz(tmp_path)
    assert main(["lr-range-test", "--model", f"{src}:Net", "--data", str(data), *CPU, *COMMANDS["lr-range-test"],
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    import torch

    torch.manual_seed(0)  # load_model_spec builds the weights from torch's global generator, as the CLI did
    ref = lr_range_test(load_model_spec(f"{src}:Net"), data=load_data_path(data, seed=0), num_iter=3,
                        batch_size=16, seed=0, device="cpu")
    assert got["losses"] == [float(v) for v in ref.losses]


def test_the_check_leaves_the_model_untouched(tmp_path):
    """The try runs on a copy: BatchNorm's running statistics, the weights and the gradients of the model
    that will be trained stay as built (a try on the model itself would move the running mean)."""
    import torch

    from mlcore.user_inputs import check_model, load_data_path, load_model_spec

    src = tmp_path / "net.py"
    src.write_text(HEAD + "net = torch.nn.Sequential(torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3))\n")
    model = load_model_spec(f"{src}:net")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    checked = check_model(model, load_data_path(_npz(tmp_path), seed=0))
    assert checked is model and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert type(model).__name__ == "Sequential" and isinstance(model, torch.nn.Sequential)


def test_a_real_ctrl_c_exits_130(tmp_path):
    src = tmp_path / "net.py"
    src.write_text("import time\n" + GOOD.format(body="print('ready', file=sys.stderr, flush=True); "
                                                 "time.sleep(60); return self.fc(x)"))
    proc = subprocess.Popen([sys.executable, "-m", "mlcore", "lr-range-test", "--model", f"{src}:Net", "--data",
                             str(_npz(tmp_path)), *CPU, *COMMANDS["lr-range-test"]],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    rest = proc.stderr.read()
    assert rest == "mlcore: interrupted\n"


@pytest.mark.parametrize(("make", "needle"), [
    (lambda p: p.write_bytes(b"PK\x03\x04 not a zip"), "cannot read '{p}' as .npz (File is not a zip file)"),
    (lambda p: np.savez(p, x=np.full((10, 4), np.nan), y=np.arange(10) % 3),
     "d.npz:x holds a non-finite value (NaN, inf, or beyond float32) in row 0"),
    (lambda p: np.savez(p, x=np.full((10, 4), 1e39), y=np.arange(10) % 3), "beyond float32"),  # > float32 max
    (lambda p: np.savez(p, x=np.array([["a"] * 4] * 10), y=np.arange(10) % 3), "d.npz:x has shape (10, 4) and dtype <U1"),
    (lambda p: np.savez(p, x=np.float32(3), y=np.arange(10) % 3), "d.npz:x has shape () and dtype float32"),
])
def test_a_malformed_npz_is_one_line(tmp_path, capsys, make, needle):
    src = tmp_path / "net.py"
    src.write_text(GOOD.format(body="return self.fc(x)"))
    data = tmp_path / "d.npz"
    make(data)
    before = _snapshot(tmp_path)
    assert main(["lr-range-test", "--model", f"{src}:Net", "--data", str(data), *CPU, "--num-iter", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("mlcore: error: --data: "), err
    assert needle.format(p=data) in err
    assert _snapshot(tmp_path) == before
