"""Example: a real (small) training flow, metered, gated and recorded on the embedded defaults.

Stages: prepare (generate a classification data set), train (logistic regression by full-batch
gradient descent with numpy), evaluate (held-out accuracy), then the carbon gate, then promotion
only when the gate allows it. Energy is metered per stage, turned into CO2e with the embedded grid
intensity of the policy's zone, judged against `policies/example-train.yaml`, and every record and
decision is appended to the hash-chained ledger at `.carbonguard/ledger.db`. With the `report`
extra (matplotlib) installed, the gate also writes the run's HTML report beside the ledger.

Run: python examples/train_flow.py [--policy FILE] [--epochs N] [--certificates FILE...]

`--certificates` passes signed granular certificate exports to the gate, which matches them hour by
hour under the policy's `spec.matching` (see docs/matching.md) and prints the run's CFE score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# The local ephemeral Prefect API's first start races its own telemetry write on a fresh machine and
# prints a harmless "database is locked" traceback; the example needs no telemetry.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect waits 20 s for that server by default; a loaded two-core CI machine can take longer.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import numpy as np
from prefect import flow, task

from carbonguard.errors import GateBlocked
from carbonguard.models import Decision, Outcome
from carbonguard.prefect import carbon_gate, metered

HERE = Path(__file__).resolve().parent
DEFAULT_POLICY = HERE.parent / "policies" / "example-train.yaml"


@task
@metered(stage="prepare")
def prepare(n_samples: int = 200_000, n_features: int = 64, seed: int = 7) -> dict:
    """Two Gaussian classes with a known linear separator plus label noise."""
    rng = np.random.default_rng(seed)
    true_w = rng.normal(size=n_features)
    x = rng.normal(size=(n_samples, n_features))
    logits = x @ true_w + rng.normal(scale=2.0, size=n_samples)
    y = (logits > 0).astype(np.float64)
    split = int(0.8 * n_samples)
    return {"x_train": x[:split], "y_train": y[:split], "x_test": x[split:], "y_test": y[split:]}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # numerically stable logistic


@task
@metered(stage="train")
def train(data: dict, epochs: int = 300, learning_rate: float = 0.5, l2: float = 1e-3) -> dict:
    """Full-batch gradient descent on the L2-regularised log loss."""
    x, y = data["x_train"], data["y_train"]
    w = np.zeros(x.shape[1])
    b = 0.0
    losses = []
    for _ in range(epochs):
        p = _sigmoid(x @ w + b)
        grad_w = x.T @ (p - y) / len(y) + l2 * w
        grad_b = float(np.mean(p - y))
        w -= learning_rate * grad_w
        b -= learning_rate * grad_b
        eps = 1e-12
        losses.append(float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))))
    return {"w": w, "b": b, "final_loss": losses[-1], "epochs": epochs}


@task
@metered(stage="evaluate")
def evaluate(model: dict, data: dict) -> float:
    predictions = _sigmoid(data["x_test"] @ model["w"] + model["b"]) > 0.5
    return float(np.mean(predictions == data["y_test"].astype(bool)))


@task
def promote(model: dict, accuracy: float, out_dir: Path) -> Path:
    """Write the model where a serving system would pick it up: only reached when the gate allows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.json"
    path.write_text(json.dumps({"w": model["w"].tolist(), "b": model["b"], "accuracy": accuracy}))
    return path


@flow(name="carbonguard-example-train")
def train_flow(policy: str = str(DEFAULT_POLICY), epochs: int = 300, out_dir: str = "artifacts",
               report_dir: str | None = None, certificates: list[str] | None = None) -> Decision:
    data = prepare()
    model = train(data, epochs=epochs)
    accuracy = evaluate(model, data)
    # raises GateBlocked on block or reschedule: no promotion then
    decision = carbon_gate(policy, report_dir=report_dir, certificates=certificates)
    if decision.outcome in (Outcome.ALLOW, Outcome.WARN):
        promote(model, accuracy, Path(out_dir))
    return decision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=str(DEFAULT_POLICY))
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--out-dir", default="artifacts")
    parser.add_argument("--certificates", nargs="+", metavar="FILE", help="signed certificate exports to match")
    args = parser.parse_args(argv)
    ledger = os.environ.get("CARBONGUARD_LEDGER", ".carbonguard/ledger.db")
    from carbonguard.formats.registry import FORMATS
    from carbonguard.prefect.report import report_file_name

    report_dir = None
    if FORMATS["html"].missing():
        print(f"no HTML report: {FORMATS['html'].missing()}", file=sys.stderr)
    else:
        report_dir = os.path.dirname(os.path.abspath(ledger))  # beside the ledger
    try:
        decision = train_flow(policy=args.policy, epochs=args.epochs, out_dir=args.out_dir, report_dir=report_dir,
                              certificates=args.certificates)
    except GateBlocked as blocked:  # the decision itself is already in the run's logs, above
        if report_dir:
            print(f"HTML report: {Path(report_dir) / report_file_name(blocked.decision.run_id)}")
        print(f"promotion stopped ({blocked.decision.outcome.value}); records and decision are in the ledger {ledger}")
        print("verify it with: carbonguard audit verify")
        return 1
    # The decision itself is in the run's logs above (once); here only where to find everything.
    print(f"\ngate: {decision.outcome.value}; records and decision are in the ledger {ledger}; "
          f"run id {decision.run_id}")
    if report_dir:
        print(f"HTML report: {Path(report_dir) / report_file_name(decision.run_id)}")
    print("verify it with: carbonguard audit verify")
    if decision.outcome in (Outcome.ALLOW, Outcome.WARN):
        print(f"model promoted to {Path(args.out_dir) / 'model.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
