"""Pulumi program entry point: `pulumi up -s <stack>` runs this file."""

from aifactory.program import main

main()
