"""The compare view every tab shares: two images in one frame, split by a line you drag, panned by
dragging the picture and zoomed to true pixels (1:1, 2:1, 4:1: one image pixel per screen pixel,
nearest-neighbour so codec artifacts stay sharp). It runs in the browser (``gr.HTML`` with a
small script) on the full-resolution PNGs, so panning needs no round trip to the server.

The server writes each shown image once as a PNG named by its content hash into the hour's folder
of the lab's scratch space (``core.scratch``: its age and quota cleaning removes old folders),
which Gradio serves as static files."""

from __future__ import annotations

import hashlib
import html
import os
import time
from pathlib import Path

import gradio as gr
import numpy as np

from restoration.core import image as imagelib
from restoration.core import scratch
from restoration.core.errors import UserInputError
from restoration.lab import common

TEMPLATE = """
<div class="rl-compare">
${value && value.a ? `
  <div class="rl-bar">
    <span class="rl-name">◀ ${value.a_label}</span>
    <span class="rl-zooms" role="group" aria-label="zoom">
      <button type="button" data-zoom="0">fit</button><button type="button" data-zoom="1">1:1</button><button
       type="button" data-zoom="2">2:1</button><button type="button" data-zoom="4">4:1</button>
    </span>
    <span class="rl-name">${value.b_label} ▶</span>
  </div>
  <div class="rl-stage" data-size="${value.w}x${value.h}">
    <img class="rl-a" src="${value.a}" alt="${value.a_label}" draggable="false">
    <div class="rl-clip"><img class="rl-b" src="${value.b}" alt="${value.b_label}" draggable="false"></div>
    <div class="rl-handle" title="drag to move the split"></div>
  </div>
  <div class="rl-hint">Drag the picture to pan, drag the white line to move the split; zoom by the buttons
  or Ctrl+wheel (the wheel alone once zoomed in) (${value.w}×${value.h} px; 1:1 = one image pixel per screen
  pixel).</div>
  ${value.scale || ''}
` : `<div class="rl-hint">${value && value.empty ? value.empty : "Results appear here."}</div>`}
</div>
"""

CSS = """
.rl-bar { display: flex; justify-content: space-between; align-items: center; gap: 8px; margin-bottom: 4px; }
.rl-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 40%; }
.rl-zooms button, .rl-zooms button:hover, .rl-zooms button:focus { padding: 2px 10px; margin: 0 1px;
  border: 1px solid var(--border-color-primary); border-radius: 4px; background: var(--background-fill-secondary);
  color: var(--body-text-color); cursor: pointer; outline: none; transition: none; }
.rl-zooms button.rl-on { background: var(--color-accent); border-color: var(--color-accent); color: white; }
.rl-stage { position: relative; height: 520px; overflow: hidden; cursor: grab; touch-action: none;
  user-select: none; background: #222; border-radius: 6px; }
.rl-stage.rl-dragging { cursor: grabbing; }
.rl-stage img { position: absolute; left: 0; top: 0; max-width: none !important; max-height: none !important;
  transform-origin: 0 0; pointer-events: none; }
.rl-clip { position: absolute; inset: 0; pointer-events: none; }
.rl-handle { position: absolute; top: 0; bottom: 0; width: 3px; margin-left: -1px; background: white;
  box-shadow: 0 0 4px black; cursor: ew-resize; }
.rl-handle::before { content: ""; position: absolute; top: 0; bottom: 0; left: -8px; right: -8px; }
.rl-hint { font-size: 0.85em; opacity: 0.75; margin-top: 4px; }
.rl-scale { display: flex; align-items: center; gap: 8px; font-size: 0.85em; margin-top: 4px; }
.rl-ramp { flex: 1; height: 12px; border-radius: 3px; border: 1px solid var(--border-color-primary); }
"""

# State lives on the root element: the template is re-rendered (morphed) when the value changes.
SCRIPT = """
const st = { zoom: 0, x: 0, y: 0, split: 0.5, drag: null, size: "" };
const q = (s) => element.querySelector(s);
function layout(reset) {
  const stage = q('.rl-stage'), a = q('.rl-a'), b = q('.rl-b');
  if (!stage || !a || !a.naturalWidth) return;
  const W = stage.clientWidth, H = stage.clientHeight, w = a.naturalWidth, h = a.naturalHeight;
  const old = st.scale || 1;
  const scale = st.zoom === 0 ? Math.min(W / w, H / h) : st.zoom / (window.devicePixelRatio || 1);
  if (reset) { st.x = (W - w * scale) / 2; st.y = (H - h * scale) / 2; }
  else if (scale !== old) {  // keep the picture's point under the frame's centre where it was
    st.x = W / 2 - (W / 2 - st.x) * scale / old; st.y = H / 2 - (H / 2 - st.y) * scale / old;
  }
  const clamp = (v, view, size) => size <= view ? (view - size) / 2 : Math.min(0, Math.max(view - size, v));
  st.x = clamp(st.x, W, w * scale); st.y = clamp(st.y, H, h * scale); st.scale = scale;
  for (const img of [a, b]) {
    if (!img) continue;
    img.style.width = (w * scale) + 'px'; img.style.height = (h * scale) + 'px';
    img.style.transform = `translate(${st.x}px, ${st.y}px)`;
    img.style.imageRendering = scale >= 1 ? 'pixelated' : 'auto';
  }
  q('.rl-clip').style.clipPath = `inset(0 0 0 ${st.split * W}px)`;
  q('.rl-handle').style.left = (st.split * W) + 'px';
  element.querySelectorAll('[data-zoom]').forEach(
    (btn) => btn.classList.toggle('rl-on', Number(btn.dataset.zoom) === st.zoom));
  // "fit" says its magnification in words ("fit, 37 %"), so 2:1 on a small image is not taken for a zoom in.
  const fit = Math.min(W / w, H / h) * (window.devicePixelRatio || 1), fitBtn = q('[data-zoom="0"]');
  if (fitBtn) fitBtn.textContent = `fit, ${Math.round(fit * 100)} %`;
  stage.dataset.zoom = st.zoom; stage.dataset.x = Math.round(st.x); stage.dataset.y = Math.round(st.y);
}
function setZoom(z) { st.zoom = z; layout(false); }
element.addEventListener('click', (e) => {
  const btn = e.target.closest('[data-zoom]');
  if (btn) setZoom(Number(btn.dataset.zoom));
});
element.addEventListener('pointerdown', (e) => {
  const stage = e.target.closest('.rl-stage');
  if (!stage) return;
  st.drag = { split: !!e.target.closest('.rl-handle'), px: e.clientX, py: e.clientY, x: st.x, y: st.y };
  stage.setPointerCapture(e.pointerId); stage.classList.add('rl-dragging'); e.preventDefault();
});
element.addEventListener('pointermove', (e) => {
  const stage = q('.rl-stage');
  if (!st.drag || !stage) return;
  if (st.drag.split) {
    const r = stage.getBoundingClientRect();
    st.split = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  } else { st.x = st.drag.x + e.clientX - st.drag.px; st.y = st.drag.y + e.clientY - st.drag.py; }
  layout(false);
});
const end = () => { st.drag = null; const s = q('.rl-stage'); if (s) s.classList.remove('rl-dragging'); };
element.addEventListener('pointerup', end);
element.addEventListener('pointercancel', end);
element.addEventListener('wheel', (e) => {
  // At fit the wheel scrolls the page (the view must not trap it); Ctrl+wheel, or the wheel once
  // zoomed in, zooms the picture under the pointer.
  if (!e.target.closest('.rl-stage') || (st.zoom === 0 && !e.ctrlKey)) return;
  e.preventDefault();
  const levels = [0, 1, 2, 4], i = levels.indexOf(st.zoom);
  setZoom(levels[Math.min(levels.length - 1, Math.max(0, i + (e.deltaY < 0 ? 1 : -1)))]);
}, { passive: false });
element.addEventListener('load', () => {  // a new pair: keep zoom and place if the size is the same
  const stage = q('.rl-stage'), size = stage ? stage.dataset.size : '';
  layout(size !== st.size); st.size = size;
}, true);
window.addEventListener('resize', () => layout(false));
watch('value', () => requestAnimationFrame(() => layout(false)));
"""


_served: set[Path] = set()  # the folders this process has told Gradio to serve


def folder() -> Path:
    """This hour's folder of compare images: a scratch folder, removed by ``core.scratch`` once
    no image has been written to it for its age limit; served by Gradio as static files."""
    path, _ = scratch.keyed("compare-", time.strftime("%Y%m%d%H"))
    if path not in _served:
        gr.set_static_paths([str(path)])
        _served.add(path)
    return path


def viewer() -> gr.HTML:
    """The compare view component; its value comes from ``value``."""
    return gr.HTML(
        value=None,
        html_template=TEMPLATE,
        css_template=CSS,
        js_on_load=SCRIPT,
        elem_classes="rl-viewer",
        label="Compare",
    )


def image_file(image: np.ndarray) -> Path:
    """The image as a PNG named by its content (written once a folder)."""
    digest = hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()[:32]
    path = folder() / f"{digest}.png"
    if not path.exists():
        staging = path.with_suffix(f".{os.getpid()}.tmp")
        imagelib.to_pil(image).save(staging, format="PNG", compress_level=1)
        os.replace(staging, path)
    return path


def empty(message: str) -> dict:
    """The viewer's value with no images: ``message`` in their place."""
    return {"empty": html.escape(message)}


def value(views: dict, left: str, right: str) -> dict:
    """The viewer's value for two of a run's views (label -> image of the same size, or the file
    ``common.keep_views`` kept it in)."""
    if not views:
        raise UserInputError("run a comparison first")
    if left not in views or right not in views:
        raise UserInputError("choose two images from the comparison")
    a, b = common.view(views, left), common.view(views, right)
    if a.shape[:2] != b.shape[:2]:
        raise UserInputError(f"{left} and {right} differ in size; pick two of the same size")
    return {
        "a": url(image_file(a)),
        "b": url(image_file(b)),
        "a_label": html.escape(left),
        "b_label": html.escape(right),
        "w": int(a.shape[1]),
        "h": int(a.shape[0]),
        "scale": "".join(dict.fromkeys(legend(label) for label in (left, right))),
    }


def legend(label: str) -> str:
    """The colour scale under the view when a side is an error map (``common.map_scale``), else ""."""
    scale = common.map_scale(label)
    if scale is None:
        return ""
    ramp = ", ".join(scale["colours"])
    return (
        f'<div class="rl-scale" data-scale="{html.escape(scale["kind"])}"><span>{html.escape(scale["kind"])} '
        f'map: {html.escape(scale["low"])}</span><span class="rl-ramp" style="background: linear-gradient('
        f'to right, {ramp})"></span><span>{html.escape(scale["high"])}</span></div>'
    )


def url(path: Path) -> str:
    """Relative to the page, so it works behind a proxy's path prefix (Spaces) too."""
    return f"gradio_api/file={path}"
