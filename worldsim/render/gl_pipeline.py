"""The GL drawing code shared by the window (`Display`) and the offscreen target (`HeadlessDisplay`).

One shader program draws a textured rectangle given in pixels. A frame is drawn as an
aspect-correct (letterboxed) quad, then the HUD overlay texture is blended on top. Images are
uploaded top row first (numpy order); the quad's texture coordinates flip them, so nothing is
flipped on the CPU.
"""
from __future__ import annotations

import moderngl
import numpy as np

FILTERS = {"linear": moderngl.LINEAR, "nearest": moderngl.NEAREST}

_VERTEX_SHADER = """
#version 330
uniform vec4 rect;      // x0, y0, x1, y1 in normalised device coordinates
in vec2 corner;         // unit square corner, (0, 0) = bottom left
out vec2 uv;
void main() {
    uv = vec2(corner.x, 1.0 - corner.y);  // texture row 0 is the image's top row
    gl_Position = vec4(mix(rect.xy, rect.zw, corner), 0.0, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D image;
in vec2 uv;
out vec4 color;
void main() {
    color = texture(image, uv);
}
"""


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Validate a frame (uint8 [H, W, 3]) and return it C-contiguous (no copy when it already is)."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"frame is empty: {list(frame.shape)}")
    return np.ascontiguousarray(frame)


def letterbox(frame_size: tuple[int, int], target_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest aspect-correct rectangle for a frame (w, h) centred in a target (w, h).

    Returns (x, y, w, h) in pixels with the origin at the TOP left of the target.
    """
    fw, fh = frame_size
    tw, th = target_size
    scale = min(tw / fw, th / fh)
    w, h = max(1, round(fw * scale)), max(1, round(fh * scale))
    return (tw - w) // 2, (th - h) // 2, w, h


class FramePipeline:
    """Draws frames and the HUD overlay into whatever framebuffer is bound in `ctx`."""

    def __init__(self, ctx: moderngl.Context, filter: str = "linear"):
        if filter not in FILTERS:
            raise ValueError(f"filter must be one of {sorted(FILTERS)}, got {filter!r}")
        self.ctx = ctx
        self.filter = FILTERS[filter]
        self.program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype="f4")  # triangle strip
        self.vbo = ctx.buffer(corners.tobytes())
        self.vao = ctx.vertex_array(self.program, [(self.vbo, "2f", "corner")])
        self.frame_texture: moderngl.Texture | None = None
        self.hud_texture: moderngl.Texture | None = None
        self.frame_rect: tuple[int, int, int, int] | None = None  # last letterbox (x, y, w, h), top-left origin
        self.hud_rect: tuple[int, int, int, int] | None = None  # last HUD rectangle, same convention

    def upload_frame(self, frame: np.ndarray) -> None:
        """Copy a uint8 [H, W, 3] frame into the frame texture (re-created only when the size changes)."""
        frame = check_frame(frame)
        height, width, _ = frame.shape
        if self.frame_texture is None or self.frame_texture.size != (width, height):
            if self.frame_texture is not None:
                self.frame_texture.release()
            self.frame_texture = self.ctx.texture((width, height), 3, alignment=1)
            self.frame_texture.filter = (self.filter, self.filter)
            self.frame_texture.repeat_x = self.frame_texture.repeat_y = False
        self.frame_texture.write(frame)

    def upload_hud(self, rgba: np.ndarray) -> None:
        """Copy the HUD overlay, uint8 [h, w, 4] (top row first), into the HUD texture."""
        height, width, _ = rgba.shape
        if self.hud_texture is None or self.hud_texture.size != (width, height):
            if self.hud_texture is not None:
                self.hud_texture.release()
            self.hud_texture = self.ctx.texture((width, height), 4, alignment=1)
            self.hud_texture.filter = (moderngl.NEAREST, moderngl.NEAREST)  # drawn 1:1
        self.hud_texture.write(np.ascontiguousarray(rgba))

    def draw(self, target_size: tuple[int, int], show_hud: bool, hud_margin: int = 8) -> None:
        """Clear the bound framebuffer, draw the frame letterboxed, then the HUD (if shown and uploaded)."""
        ctx = self.ctx
        width, height = target_size
        ctx.viewport = (0, 0, width, height)
        ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.clear(0.0, 0.0, 0.0, 1.0)
        self.hud_rect = None
        if self.frame_texture is None:
            return
        self.frame_rect = letterbox(self.frame_texture.size, target_size)
        self._draw_texture(self.frame_texture, self.frame_rect, target_size)
        if show_hud and self.hud_texture is not None:
            hud_w, hud_h = self.hud_texture.size
            self.hud_rect = (hud_margin, hud_margin, hud_w, hud_h)
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
            self._draw_texture(self.hud_texture, self.hud_rect, target_size)
            ctx.disable(moderngl.BLEND)

    def _draw_texture(self, texture: moderngl.Texture, rect: tuple[int, int, int, int],
                      target_size: tuple[int, int]) -> None:
        x, y, w, h = rect
        tw, th = target_size
        # pixel rectangle (top-left origin) -> NDC (bottom-left origin)
        x0, x1 = 2 * x / tw - 1, 2 * (x + w) / tw - 1
        y0, y1 = 1 - 2 * (y + h) / th, 1 - 2 * y / th
        self.program["rect"].value = (x0, y0, x1, y1)
        texture.use(0)
        self.vao.render(moderngl.TRIANGLE_STRIP)

    def read(self, framebuffer: moderngl.Framebuffer, target_size: tuple[int, int]) -> np.ndarray:
        """Read back uint8 [H, W, 3] pixels of a framebuffer, top row first."""
        width, height = target_size
        data = framebuffer.read(viewport=(0, 0, width, height), components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1].copy()

    def release(self) -> None:
        for resource in (self.frame_texture, self.hud_texture, self.vao, self.vbo, self.program):
            if resource is not None:
                resource.release()
        self.frame_texture = self.hud_texture = None
