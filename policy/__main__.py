"""The aifactory CrossGuard policy pack.

The policies are plain functions in `aifactory.policies`; `aifactory.policies.crossguard` turns
its registry into CrossGuard objects and this file only packs them. Constructing
`PolicyPack` starts the analyzer's gRPC server and blocks, so nothing else imports this module.
Each policy's default enforcement follows the stack's `aifactory:profile` (sovereign guarantees are
mandatory in sovereign stacks); `--policy-pack-config` can override levels and every property of
`aifactory.policies.CONFIG_SCHEMA`.
"""

from aifactory.policies import PolicyConfig
from aifactory.policies.crossguard import build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    "aifactory",
    policies=build_policies(PolicyConfig.from_stack_config()),
    enforcement_level=EnforcementLevel.ADVISORY,
)
