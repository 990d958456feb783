"""ONNX export of F5 models and their feature spaces (``tts export onnx``) and the onnxruntime backend of
``tts synth --backend onnx``: ``export`` writes the graphs (``graphs`` holds their exportable forms), ``runtime``
runs them with numpy around onnxruntime, no torch model in memory."""
