"""The synthetic world: simulated RTSP cameras with ground truth, for tests, benchmarks and demos.

A scenario (``scenario.py``; YAML files in ``scenarios/``) and a seed fix everything a camera
shows. Each camera's loop is drawn (``scene.py`` backgrounds and light, ``actors.py`` paths and
truth, ``draw.py`` people with real faces from ``faces.py`` and vehicles with ``plates.py``) and
encoded to H.264 once (``render.py``, cached); ``rtsp.py`` serves the cached access units in
real time over GStreamer's RTSP server and logs when each actor enters and leaves view;
``control.py`` is its HTTP control API and ``command.py`` the ``koopsuz sim`` command.

Typical in-process use (tests)::

    scenario = load_scenario("scenarios/motion-test.yaml")
    rendered = render_scenario(scenario)             # {camera id: RenderedCamera}, per-clip truth inside
    with SimServer(rendered, port=0, truth_path="truth.jsonl", control_port=0) as sim:
        url = sim.url("mt-1", "sub")                 # rtsp://127.0.0.1:<port>/mt-1/sub
        sim.cut("mt-1"); sim.restore("mt-1")
        lines = sim.truth_since(0)                   # runtime truth, wall-clock stamped
"""
