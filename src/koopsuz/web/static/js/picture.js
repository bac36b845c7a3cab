// A camera's still with an SVG overlay to click points on (the spot calibration's four road points, a road
// camera's lanes). Shared so both drawings agree on one thing that is easy to get wrong: a point is a
// fraction 0..1 of the picture's width and height (x right, y down), as the server's zones use them, and the
// overlay's viewBox is the still's pixel size once loaded, so circles stay round and labels keep their size.

export const SVG_NS = "http://www.w3.org/2000/svg";
const BLANK = { w: 1600, h: 900 }; // no still: a 16:9 blank frame, points can still be placed on it

/** An SVG element with attributes (and text, for labels). */
export function svgNode(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

/**
 * The picture in `stage` (an <img> and an <svg> laid over it): `view` is the overlay's size in its own units,
 * `at(ev)` the clicked point as fractions (null outside a laid-out overlay), `show(src)` / `blank()` the still.
 * `onview` is called when the size changes, so the caller redraws at the new scale.
 */
export function picture(stage, svg, img, onview = () => {}) {
  const view = { ...BLANK };
  const setView = (w, h) => {
    view.w = w;
    view.h = h;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    stage.style.aspectRatio = `${w} / ${h}`;
    onview();
  };
  return {
    view,
    svg,
    /** The clicked point as [x, y] fractions of the picture, 4 decimals (a tenth of a pixel at 1600 px). */
    at(ev) {
      const r = svg.getBoundingClientRect();
      if (!r.width || !r.height) return null;
      const x = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      const y = Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height));
      return [Number(x.toFixed(4)), Number(y.toFixed(4))];
    },
    /** Screen pixels between two fraction points (to tell "clicked the first point again" at any size). */
    screenDistance(a, b) {
      const r = svg.getBoundingClientRect();
      return Math.hypot((a[0] - b[0]) * r.width, (a[1] - b[1]) * r.height);
    },
    /** A fraction point in overlay units. */
    px([x, y]) {
      return [x * view.w, y * view.h];
    },
    blank() {
      img.onload = null;
      img.onerror = null;
      img.hidden = true;
      img.removeAttribute("src");
      stage.dataset.still = "none";
      setView(BLANK.w, BLANK.h);
    },
    /** Load `src`; `onerror` when it cannot be had (the caller says why). */
    show(src, onerror = () => {}) {
      img.onload = () => {
        setView(img.naturalWidth, img.naturalHeight);
        img.hidden = false;
        stage.dataset.still = "loaded";
      };
      img.onerror = () => {
        stage.dataset.still = "error";
        onerror();
      };
      img.src = src;
    },
  };
}
