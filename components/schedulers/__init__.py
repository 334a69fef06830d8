"""Training schedulers for the factory: Kubernetes and Slurm."""
