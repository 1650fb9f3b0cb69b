"""WhisperLive's OpenAI-compatible REST server (its own ``build_rest_app``) on 127.0.0.1 only.

WhisperLive's ``TranscriptionServer.run`` binds every interface and starts its WebSocket server
beside the REST one; the tests need neither, so this builds the same FastAPI app and serves it on
loopback. Runs in its own virtual environment (requirements.txt), never the project's.

    python serve.py MODEL_FOLDER PORT [CERT KEY]      (with CERT and KEY: HTTPS)
"""

import logging
import sys

import numpy as np
import uvicorn
from whisper_live.server import ClientManager, TranscriptionServer

model, port = sys.argv[1], int(sys.argv[2])
logging.getLogger().setLevel(logging.WARNING)
server = TranscriptionServer()
server.client_manager = ClientManager()
server.default_model = model
app = server.build_rest_app("faster_whisper", faster_whisper_custom_model_path=model)
# Loaded and warmed now, not on the first request (the first decode of a model is several times
# slower than the rest), as a deployment is warm before workstations use it.
list(server._get_rest_model(model).transcribe(np.zeros(16000, np.float32), language="en")[0])
tls = {"ssl_certfile": sys.argv[3], "ssl_keyfile": sys.argv[4]} if len(sys.argv) > 4 else {}
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", **tls)
