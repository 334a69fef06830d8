"""`aifactory plan | render | policy-check`: the factory without the Pulumi CLI or AWS credentials."""
