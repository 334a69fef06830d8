"""Hosts aifactory's components for every Pulumi language (`pulumi package add`)."""

from aifactory import COMPONENTS, __version__
from aifactory.provider import PROVIDER_NAME
from pulumi.provider.experimental import component_provider_host

if __name__ == "__main__":
    component_provider_host(list(COMPONENTS), PROVIDER_NAME, version=__version__)
