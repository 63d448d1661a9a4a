"""recpim.arch.graph: the WorkloadGraph every downstream stage sees (workload.py), its builder, the
digital-cost table and the torch.fx importer. Torch-free but for the importer."""
