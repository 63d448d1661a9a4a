"""recpim.arch.model: recommender models. NASRec spaces (space.py), SubnetConfig (subnet.py), the
operator registry (operators.py) and its torch modules (modules.py), the weight-sharing supernet and
its input-sharing setting, standalone models, the zoo, the model-spec resolver (spec.py) and the
subnet lowering (lowering.py)."""
