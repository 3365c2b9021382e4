"""``glassnet playground``: a page in the browser to play with a real glassnet network.

The server (``app.py``, Starlette + uvicorn: ``pip install "glassnet[playground]"``) gives each tab
a ``session.Session`` that trains with glassnet's own ``fit`` and streams frames over a WebSocket.
The modules, one job each:

    settings.py   what the page may ask for: defaults, limits, the check
    datasets.py   the 2-D sets, regression surfaces and picture sets (NumPy only)
    csvdata.py    a CSV of the learner's own: read from the uploaded bytes, checked, standardized
    network.py    the network of the settings, built with the public API
    session.py    one tab's data, network and training on a worker thread; the frames
    trace.py      a clicked example through ``gn.explain``, as JSON
    script.py     the Python script that trains the same network to the same weights
    app.py        the Starlette app: the page, the WebSocket, uploads and downloads, limits
    static/       index.html, app.js, style.css: plain JavaScript drawing on canvases

``docs/playground.md`` describes the page, its limits and how it is built.
"""
