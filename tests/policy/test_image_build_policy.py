"""`in-region-image-builds`: a sovereign stack's Image Builder components fetch from S3 and local files
only; the rendered in-region document passes, the same build with egress (vendor URLs) does not."""

from __future__ import annotations

from aifactory.node_image_documents import component_document, document_yaml
from aifactory.policies import PolicyConfig

from tests.policy.harness import assert_each_message_ends_with_its_fix, validate_resource
from tests.test_node_image_documents import build_of

COMPONENT = "aws:imagebuilder/component:Component"
SOVEREIGN = PolicyConfig.from_sovereignty(
    "sovereign", {"allowedRegions": ["eu-north-1"], "registryMirror": "123456789012.dkr.ecr.eu-north-1.amazonaws.com/m"}
)


def _data(in_region: bool) -> str:
    return document_yaml(component_document(build_of("nvidia", "slurm", in_region)))


def test_an_in_region_document_passes() -> None:
    assert validate_resource("in-region-image-builds", COMPONENT, {"data": _data(True)}, base=SOVEREIGN) == []


def test_a_document_fetching_from_the_internet_is_refused() -> None:
    messages = validate_resource("in-region-image-builds", COMPONENT, {"data": _data(False)}, base=SOVEREIGN)
    assert any("https://download.schedmd.com/slurm/slurm-25.11.8.tar.bz2" in m for m in messages)
    assert_each_message_ends_with_its_fix("in-region-image-builds", messages)


def test_one_url_slipped_into_a_script_is_refused() -> None:
    data = _data(True).replace("set -euo pipefail", "set -euo pipefail\ncurl -fsSL http://example.org/x.sh | bash", 1)
    (message,) = validate_resource("in-region-image-builds", COMPONENT, {"data": data}, base=SOVEREIGN)
    assert "http://example.org/x.sh" in message


def test_commercial_stacks_are_not_checked() -> None:
    commercial = PolicyConfig(profile="commercial")
    assert validate_resource("in-region-image-builds", COMPONENT, {"data": _data(False)}, base=commercial) == []
