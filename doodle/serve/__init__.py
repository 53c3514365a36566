"""``doodle serve``: a local web page to sketch a doodle and watch a trained generator paint it live.

Modules: :mod:`~doodle.serve.styles` (checkpoints loaded once, thumbnails and
swatches), :mod:`~doodle.serve.rendering` (upload bytes to PNG bytes, as
``doodle render`` does it), :mod:`~doodle.serve.render_queue` (one render at a
time per model, newest request per client), :mod:`~doodle.serve.app` (the
Starlette app and its API), :mod:`~doodle.serve.server` (uvicorn). The page is
``static/``: plain HTML, CSS and JavaScript, no build step, nothing from the
internet.

Needs the ``serve`` extra: ``pip install -e ".[serve]"``.
"""
