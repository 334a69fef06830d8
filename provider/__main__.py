"""Hosts aifactory's components for every Pulumi language (`pulumi package add`)."""

from pulumi.provider.experimental import component_provider_host

from aifactory import COMPONENTS, __version__
from aifactory.provider import PROVIDER_NAME

if __name__ == "__main__":
    component_provider_host(list(COMPONENTS), PROVIDER_NAME, version=__version__)
