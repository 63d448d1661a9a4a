"""A data profile (recpim.arch.data.profile) applied to a model's embedding nodes.

Each embedding node takes the access distribution of one profiled field: the measured hot-share
curve, the fitted Zipf exponent and the distinct ids (rows never looked up in the data are assumed
never looked up). A node finds its field
1. by name: the field's name is the last part of the node's name split at "." and "_"
   ("embedding.C7" -> C7, how recpim lowers a subnet);
2. else by position: a trailing index i ("embeddings_6", how torch.fx names a ModuleList's
   tables) takes the profile's field i (C7 for Criteo).
A node matching neither is an error naming it and the profile's fields. The node's pooling stays
what the model gives; a profile's measured pooling is reported beside it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from recpim.arch.data.profile import DataProfile, FieldProfile
from recpim.arch.graph.embedding import AccessDistribution
from recpim.arch.graph.workload import OpKind, WorkloadGraph, WorkloadNode
from recpim.errors import ConfigError


def field_for(node: WorkloadNode, profile: DataProfile) -> FieldProfile | None:
    parts = re.split(r"[._]", node.name)
    by_name = {f.name: f for f in profile.fields}
    if parts[-1] in by_name:
        return by_name[parts[-1]]
    if parts[-1].isdigit() and int(parts[-1]) < len(profile.fields):
        return profile.fields[int(parts[-1])]
    return None


def access_of(field: FieldProfile, source: str) -> AccessDistribution:
    return AccessDistribution(zipf_exponent=field.zipf_exponent, hot_shares=field.hot_shares,
                              distinct_rows=max(1, field.distinct_ids), source=f"{source}:{field.name}")


def apply_profile(graph: WorkloadGraph, profile: DataProfile | None) -> WorkloadGraph:
    """`graph` with every embedding node's access distribution taken from `profile` (a new graph;
    `graph` itself unchanged). Without a profile, the graph as it is (uniform access)."""
    if profile is None:
        return graph
    nodes = graph.nodes()
    tables = [node for node in nodes if node.kind == OpKind.EMBEDDING]
    unmatched = [node.name for node in tables if field_for(node, profile) is None]
    if unmatched:
        raise ConfigError("--profile", [(profile.dataset, f"no profiled field for embedding nodes {unmatched}; "
                                                          f"the profile's fields: "
                                                          f"{', '.join(f.name for f in profile.fields)} (a node "
                                                          "matches a field by its last name part or its index)")])
    out = WorkloadGraph(graph.name, {**graph.metadata, "embedding_profile": profile.dataset})
    inserted = [graph.node(name) for name in graph.graph.nodes]   # insertion order: the same topological order
    for node in inserted:
        if node.kind == OpKind.EMBEDDING:
            access = node.embedding_access
            node = replace(node, embedding=replace(access, access=access_of(field_for(node, profile),
                                                                               profile.dataset)))
        out.add_node(node)
    for node in inserted:   # each node's producers in their order (concatenations keep their inputs' order)
        for producer in graph.graph.pred[node.name]:
            out.add_edge(producer, node.name)
    return out.check()
