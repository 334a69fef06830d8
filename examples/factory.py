"""`AiFactory`: the whole factory from a stack config, planned once (`plan_factory`) and declared."""

import pulumi
from aifactory import AiFactory, plan_factory, spec_from_config


def main() -> None:
    spec = spec_from_config(
        {
            "aws:region": "us-east-1",
            "aifactory:profile": "commercial",
            "aifactory:fleets": [{"name": "train", "instanceType": "p5.48xlarge", "count": 16}],
            "aifactory:images": {"dlami-nvidia": "ami-0a3c5e7f9b1d24680"},  # your region's pinned DLAMI
        }
    )
    plan = plan_factory(spec, "research")  # every derived fact, once; raises ConfigError if infeasible
    factory = AiFactory("research", {}, plan=plan)
    pulumi.export("vpc", factory.vpc_id)
