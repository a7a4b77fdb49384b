"""Patch 13: a resource's tags are read from its own entry, not found by scanning every tag.

EC2 answers DescribeImages, DescribeSnapshots and DescribeInstances in time that grows with
the resources returned. moto 5.2.5 serializes each resource's tags by calling
`describe_tags(filters={"resource-id": [id]})`, a regex match against every tag of every
resource in the region, and the serializer asks for them more than once per resource: listing
N tagged AMIs costs O(N²). With 500 releases carrying 6 tags each, DescribeImages took
1.1–1.8 s, nearly all of it in that scan, so a benchmark of any listing measured moto instead
of the client. The answer is unchanged: the same dicts, in the same (insertion) order.
"""

from __future__ import annotations

from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, get_prefix

from . import consistency, replaces


@replaces(TaggedEC2Resource, "get_tags")
def get_tags(self: TaggedEC2Resource) -> list[dict[str, str]]:
    resource_id = getattr(self, "id", None)
    if not resource_id:
        return []
    # .get: the backend's tag store is a defaultdict, and a read must not add an entry.
    tags = self.ec2_backend.tags.get(resource_id, {})  # type: ignore[attr-defined]
    tags = consistency.visible_tags(resource_id, tags)  # patch 52: as EC2 shows them yet
    resource_type = EC2_PREFIX_TO_RESOURCE.get(get_prefix(resource_id), "")
    return [
        {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
        for key, value in tags.items()
    ]
