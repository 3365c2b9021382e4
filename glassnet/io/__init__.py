"""Files: the model file format (safetensors + JSON fields) and atomic writes."""


def load(path):  # TEMPORARY shim while tabular/cli/sklearn move to glassnet.load; removed in this issue
    from ..model import Sequential
    return Sequential.load(path)
