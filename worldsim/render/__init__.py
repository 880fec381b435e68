"""worldsim.render: showing and recording frames.

- `display.Display`: the pygame + moderngl game window (frame quad, letterboxed, plus HUD).
- `headless.HeadlessDisplay`: the same drawing code offscreen on EGL (tests, CI, servers).
- `video.VideoWriter` / `video.read_video`: mp4 through PyAV.
- `recorder.Recorder` / `recorder.ControlLog`: mp4 + msgpack control log of a play session.

Modules are imported on demand: `import worldsim.render` loads neither pygame nor OpenGL.
"""
