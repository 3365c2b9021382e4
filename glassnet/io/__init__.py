"""Files: the model file format (safetensors + JSON fields, ``model_file``) and writes that never
leave a half-written file (``atomic``). Models read and write themselves through them:
``Sequential.save`` and ``Sequential.load`` (``glassnet.load``)."""
