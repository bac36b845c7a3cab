// PTZ section of a dome's popup on the map: its presets as buttons (one click recalls one) and a
// link to the full controls on the camera page. Refusals (another operator holds the camera, the
// dome does not answer) come back as the API's message in a toast.

import { api, can, cameraUrl, h, t, toast } from "./core.js";

export function ptzPopupSection(cam) {
  if (!cam.ptz || !can("ptz.control")) return null;
  const base = `/api/cameras/${encodeURIComponent(cam.id)}/ptz`;
  const list = h("div", { class: "ptz-popup-presets", "data-testid": "popup-ptz-presets" }, h("span", { class: "muted small" }, "…"));
  api(`${base}/presets`)
    .then((presets) => {
      list.replaceChildren(
        ...(presets.length
          ? presets.map((p) =>
              h(
                "button",
                {
                  type: "button",
                  class: "btn btn-small",
                  "data-testid": "popup-ptz-preset",
                  onclick: () =>
                    api(`${base}/preset/${encodeURIComponent(p.token)}`, { method: "POST" })
                      .then(() => toast(t("ptz.preset_going", { name: p.name })))
                      .catch((err) => toast(err.detail || err.message, { error: true })),
                },
                p.name,
              ),
            )
          : [h("span", { class: "muted small" }, t("ptz.presets_empty"))]),
      );
    })
    .catch((err) => list.replaceChildren(h("span", { class: "muted small" }, err.detail || err.message)));
  return h(
    "div",
    { class: "ptz-popup", "data-testid": "popup-ptz" },
    h("b", { class: "small" }, t("ptz.presets")),
    list,
    h("a", { class: "btn btn-ghost btn-small", href: `${cameraUrl(cam.id)}#ptz-card` }, t("ptz.title")),
  );
}
