"""Quality gates: syntax, tests and security, run for real inside the sandbox."""

from __future__ import annotations

from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.generation.gates import run_gates_async


class QualityGates:
    name = "quality_gates"
    phase: Phase = "verify"

    async def run(self, context: StepContext) -> StepOutcome:
        language = context.outputs.get("intent", {}).get("language", "python")
        results = await run_gates_async(dict(context.files), language=language)
        passed = all(r.passed for r in results)
        return StepOutcome(
            inputs={"files": len(context.files), "language": language},
            outputs={
                "passed": passed,
                "gates": {r.gate: r.passed for r in results},
                "reports": {r.gate: r.report[-3000:] for r in results if not r.passed},
            },
            decision="all gates passed"
            if passed
            else "failed: " + ", ".join(r.gate for r in results if not r.passed),
            gates=[r.as_payload() for r in results],
        )
