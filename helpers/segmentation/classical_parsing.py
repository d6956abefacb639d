"""Offline human and garment parsing from classical methods only (no network weights).

The parser answers the same question as the U²-Net cloth model (0 background, 1 upper-body
garment, 2 lower-body garment, 3 full-body garment) from models that ship inside installed
wheels, in four steps, all at a small working resolution:

1. **Anchor.** scikit-image's LBP frontal-face cascade (Liao et al. 2007) finds face
   candidates; each is scored by the skin colour inside it, its size and its position. The
   face fixes the head unit (crown to chin) and hence, through the canon of body
   proportions (stature ≈ 7.5–8 heads), where the chest, waist, crotch and thighs lie.
   OpenCV's HOG people detector (Dalal & Triggs 2005) is the fall-back.
2. **Person.** GrabCut (Rother, Kolmogorov & Blake 2004, OpenCV) started from a trimap
   drawn in head units: the figure is probable foreground, the reach of the arms probable
   background, and the face, sternum and crotch sure foreground.
3. **Garments.** Colour histograms sampled from anatomical seed zones (chest; hips and
   upper thighs; the face for a per-person skin model), soft vertical priors, then two
   contrast-sensitive binary graph cuts (Boykov & Jolly 2001; max-flow of Boykov &
   Kolmogorov 2004 through PyMaxflow): garment vs. the rest of the person (skin, hair,
   shoes), then upper vs. lower inside the garment. The upper/lower prior changes at the
   lowest strong horizontal edge between the waist and just below the crotch that has
   cloth below it (the hem of a top or jacket, not a belt and not the hem of shorts).
   Legs that GrabCut dropped (trousers as pale as the floor) are recovered by a third cut
   inside two leg tubes below the crotch: lower-garment colours against the colours beside
   the tubes. Down the midline the split follows the strongest change of colours (a shirt
   over shorts inside an open jacket); a lower garment ends where the legs show bare
   skin (nothing below the hem of shorts is one: boots, shadows); hair colours explain
   pixels near the head only.
4. **One piece or two.** A full-body garment is chosen only when the chest and thigh
   fabrics match (median colour and Hellinger distance of the colour histograms), the
   colour histogram down the body's midline changes nowhere between chest and knee (no
   waistband, hem or shirt-over-shorts junction), the garment does not split into two leg
   tubes and it reaches below the crotch. Taking a two-piece for a dress loses both its
   classes, the reverse only one, so a dress needs all of these cues.

Probabilities and the person matte are upsampled to full size with the guided filter
(He, Sun & Tang 2010/2013, OpenCV contrib); labels are the argmax of the upsampled
probabilities, never an interpolated label map.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import cv2
import maxflow
import numpy as np
from scipy import ndimage as ndi

from helpers._checks import check_image
from helpers.segment import ClothParsing
from helpers.segmentation.base import Capabilities, ParsingBackend
from helpers.segmentation.boundary import snap_to_edges

__all__ = ["NO_PERSON_NOTE", "ClassicalParsing", "PersonParse", "face_cascade", "parse_person"]

#: What the back-end says when it finds no person (a landscape, a collage).
NO_PERSON_NOTE = ("no person found: click on the garment (the automatic start is a "
                  "central box)")

_FACE_SIDES = (320, 400)  # long sides at which the face cascade runs (its window is 24 px)
_FACE_STEP = 1.15
_EPS = 1e-6

# Canon of proportions in head units (crown to chin), measured from the crown; fashion
# photos show adults of about 7.5-8 heads.
_STATURE_HEADS = 7.75
_CHEST = (1.5, 2.6)        # chest band for the upper-garment colour model
_WAIST = 3.0               # natural waist
_CROTCH = 4.0              # crotch / hip joint
_THIGH = (3.8, 5.0)        # hips to mid-thigh: the lower-garment colour model
_KNEE = 5.6
_GEO_FAR = 0.045           # geodesic distance, in heads, beyond which a prop is detached
_MID_STEP = 0.45           # Hellinger change of colours that marks a garment boundary
# boundary refinement: half-width of the uncertain band around each garment, as a share of
# the person's height, and the long side (pixels) above which it runs on a reduced copy
_SNAP_BAND = 0.02
_SNAP_SIDE = 1280


@dataclass(frozen=True)
class PersonParse:
    """The result of :func:`parse_person`.

    Attributes
    ----------
    labels : np.ndarray
        ``(H, W) uint8``: 0 background (including skin, hair, shoes, bags), 1 upper-body
        garment, 2 lower-body garment, 3 full-body garment.
    probabilities : np.ndarray
        ``(4, H, W) float32``, summing to 1 per pixel; ``labels`` is their argmax.
    person : np.ndarray
        ``(H, W) float32`` in [0, 1]: soft matte of the whole person (skin, hair and garments
        included), independent of the garment classes.
    person_found : bool
        False when no person was detected; the garment prior then sits in a central box.
    person_box : tuple of int
        ``(x0, y0, x1, y1)`` in full-size pixels: the detected person, or a central box.
    """

    labels: np.ndarray
    probabilities: np.ndarray
    person: np.ndarray
    person_found: bool
    person_box: tuple[int, int, int, int]


@dataclass(frozen=True)
class _Body:
    """Body geometry at the working scale (pixels): crown row, head unit, centre column."""

    top: float
    head: float
    cx: float
    face: tuple[float, float, float, float]   # x, y, w, h
    found: bool

    def row(self, heads: float) -> float:
        return self.top + heads * self.head


# ----------------------------------------------------------------------------- small tools
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40.0, 40.0)))


def _broad_skin(ycc: np.ndarray) -> np.ndarray:
    """Illumination-tolerant skin rule in CrCb (Chai & Ngan 1999), light to dark skin."""
    y, cr, cb = (ycc[..., k].astype(np.int16) for k in range(3))
    return (cr >= 133) & (cr <= 180) & (cb >= 77) & (cb <= 132) & (y > 25)


def _colour_index(lab: np.ndarray, bins: int = 16) -> np.ndarray:
    q = (lab.astype(np.intp) * bins) // 256
    return (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]


def _histogram_density(idx: np.ndarray, weights: np.ndarray, bins: int = 16,
                       sigma: float = 0.8) -> np.ndarray:
    """Smoothed, normalised colour histogram evaluated at every pixel (a GrabCut-like colour
    model with vectorised look-ups)."""
    h = np.bincount(idx.ravel(), weights=weights.ravel(), minlength=bins ** 3)
    h = ndi.gaussian_filter(h.reshape((bins,) * 3), sigma).ravel()
    h = h / max(float(h.sum()), _EPS) + 1e-5   # unseen colours unlikely, not impossible
    return h[idx]


def _contrast_weights(lab: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Contrast-sensitive Potts weights (Boykov & Jolly 2001) to the right and down."""
    f = lab.astype(np.float32)
    dr = np.sum((f[:, 1:] - f[:, :-1]) ** 2, axis=2)
    dd = np.sum((f[1:] - f[:-1]) ** 2, axis=2)
    beta = 1.0 / (2.0 * max(float(np.concatenate([dr.ravel(), dd.ravel()]).mean()), _EPS))
    wr = np.zeros(f.shape[:2], np.float64)
    wd = np.zeros(f.shape[:2], np.float64)
    wr[:, :-1] = strength * np.exp(-beta * dr)
    wd[:-1] = strength * np.exp(-beta * dd)
    return wr, wd


_RIGHT = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])
_DOWN = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])


def _min_cut(cost_fg: np.ndarray, cost_bg: np.ndarray, wr: np.ndarray,
             wd: np.ndarray) -> np.ndarray:
    """Binary min-cut (PyMaxflow); True where the foreground label is chosen."""
    g = maxflow.Graph[float]()
    ids = g.add_grid_nodes(cost_fg.shape)
    g.add_grid_edges(ids, weights=wr, structure=_RIGHT, symmetric=True)
    g.add_grid_edges(ids, weights=wd, structure=_DOWN, symmetric=True)
    g.add_grid_tedges(ids, cost_bg, cost_fg)   # source side = foreground
    g.maxflow()
    return ~g.get_grid_segments(ids)


def _keep_components(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Connected components of ``mask`` that touch ``seed`` (the largest one if none)."""
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    ids = np.unique(lab[seed & (lab > 0)])
    if ids.size == 0:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        ids = np.array([int(np.argmax(sizes))])
    return np.isin(lab, ids)


# ----------------------------------------------------------------------------- anchors
@lru_cache(maxsize=1)
def face_cascade():
    """scikit-image's LBP frontal-face cascade (it ships in the wheel), loaded once.

    Shared by this parser and the ``grabcut`` back-end; ``detect_multi_scale`` keeps no
    state between calls, so one instance serves every photo.
    """
    from skimage.data import lbp_frontal_face_cascade_filename
    from skimage.feature import Cascade

    return Cascade(lbp_frontal_face_cascade_filename())


def _is_achromatic(rgb: np.ndarray) -> bool:
    """True for a grey (black-and-white) photo: no pixel has more than a trace of chroma."""
    ycc = cv2.cvtColor(rgb[::4, ::4], cv2.COLOR_RGB2YCrCb).astype(np.int16)
    chroma = np.abs(ycc[..., 1] - 128) + np.abs(ycc[..., 2] - 128)
    return bool(np.percentile(chroma, 99) <= 4)


def _detect_face(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """The most plausible face ``(x, y, w, h)`` in ``rgb`` coordinates, or None.

    The cascade runs at two image scales (its hits depend on where a face falls on the
    pyramid) and its hits are many and noisy, so each is scored: skin fraction at its
    centre, a size plausible for a person photo (full figure to portrait), room for a body
    below, closeness to the horizontal centre, and how many overlapping hits support it.
    """
    h0, w0 = rgb.shape[:2]
    # a black-and-white photo has no skin colour to test: the cue then says nothing
    colourless = _is_achromatic(rgb)
    # a face with room for a body below lies in the upper part of the frame: search there only
    crop = rgb[: max(8, int(np.ceil(0.62 * h0)))]

    def hits_at(side: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The cascade's boxes (in ``rgb`` pixels) at one long side, and their skin cue."""
        s = min(1.0, side / max(h0, w0))
        small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else crop
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        short = min(int(round(h0 * s)), gray.shape[1])
        if min(gray.shape) < 24:
            return None
        hits = face_cascade().detect_multi_scale(
            gray, scale_factor=_FACE_STEP, step_ratio=1, min_size=(20, 20),
            max_size=(short // 2, short // 2), min_neighbor_number=1)
        if not hits:
            return None
        b = np.array([[d["c"], d["r"], d["width"], d["height"]] for d in hits], np.float64)
        skin = _broad_skin(cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)).astype(np.uint8)
        i_skin = cv2.integral(skin).astype(np.float64)
        x, y, w, h = b.T
        # cheeks and nose are skin: the mean skin of the box's central half
        x0, x1 = (x + 0.25 * w).astype(int), (x + 0.75 * w).astype(int)
        y0, y1 = (y + 0.25 * h).astype(int), (y + 0.75 * h).astype(int)
        area = np.maximum((x1 - x0) * (y1 - y0), 1)
        cheeks = (i_skin[y1, x1] - i_skin[y0, x1] - i_skin[y1, x0] + i_skin[y0, x0]) / area
        return b / s, np.ones_like(cheeks) if colourless else cheeks

    # the scales run in threads: the cascade releases the GIL (0.25 -> 0.16 s at 1 MP on
    # two cores); the hits are gathered in the order of the sides
    with ThreadPoolExecutor(max_workers=len(_FACE_SIDES)) as pool:
        found = [r for r in pool.map(hits_at, _FACE_SIDES) if r is not None]
    boxes = [b for b, _ in found]
    cues = [c for _, c in found]
    if not boxes:
        return None
    boxes, frac = np.concatenate(boxes), np.concatenate(cues)
    x, y, w, h = boxes.T
    rel = h / h0
    size = _sigmoid((rel - 0.025) / 0.008) * _sigmoid((0.45 - rel) / 0.05)
    y_rel = (y + h / 2) / h0
    room = _sigmoid((0.42 - y_rel) / 0.05)                    # a body fits below
    centre = np.exp(-(((x + w / 2) / w0 - 0.5) ** 2) / (2 * 0.22 ** 2))
    # support: overlapping detections at neighbouring positions and scales
    cxy = np.stack([x + w / 2, y + h / 2], 1)
    near = (np.linalg.norm(cxy[:, None] - cxy[None], axis=2) < 0.3 * w[:, None]) \
        & (np.abs(np.log(w[:, None] / w[None])) < 0.35)
    support = near.sum(1).astype(np.float64)
    score = _sigmoid((frac - 0.4) / 0.08) * size * room * centre * np.log1p(support)
    best = int(np.argmax(score))
    if score[best] < 0.05:
        return None
    bx, by, bw, bh = np.median(boxes[near[best]], axis=0)   # consensus of the supporters
    return float(bx), float(by), float(bw), float(bh)


def _detect_pedestrian(rgb: np.ndarray) -> tuple[float, float, float, float] | None:
    """A standing person ``(x, y, w, h)`` from OpenCV's HOG + linear SVM people detector."""
    h0, w0 = rgb.shape[:2]
    s = min(1.0, 256 / max(h0, w0))
    small = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    if min(small.shape[:2]) < 64 or small.shape[0] < 128:
        return None
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    rects, weights = hog.detectMultiScale(small, winStride=(8, 8), padding=(16, 16), scale=1.05)
    if len(rects) == 0:
        return None
    weights = np.ravel(weights)
    ok = (weights > 0.5) & (rects[:, 3] > 0.4 * small.shape[0])
    if not ok.any():
        return None
    k = int(np.argmax(np.where(ok, weights * rects[:, 3], -1)))
    x, y, w, h = rects[k]
    return x / s, y / s, w / s, h / s


def _body_from_anchor(rgb: np.ndarray, scale: float, shape: tuple[int, int]) -> _Body:
    h, w = shape
    face = _detect_face(rgb)
    if face is not None:
        fx, fy, fw, fh = (v * scale for v in face)
        # the LBP box spans brows to mouth; crown-to-chin is ~1.45 box heights
        head = 1.45 * fh
        return _Body(top=fy - 0.5 * fh, head=head, cx=fx + fw / 2, face=(fx, fy, fw, fh),
                     found=True)
    ped = _detect_pedestrian(rgb)
    if ped is not None:
        px, py, pw, ph = (v * scale for v in ped)
        # the HOG window has ~1/8 margin above and below the figure
        top, head = py + ph / 8, (0.75 * ph) / _STATURE_HEADS
        cx = px + pw / 2
        return _Body(top=top, head=head, cx=cx,
                     face=(cx - 0.35 * head, top + 0.3 * head, 0.7 * head, 0.7 * head),
                     found=True)
    # no person: a hypothetical figure filling a central box, for the garment prior only
    head = 0.8 * h / _STATURE_HEADS
    top = 0.1 * h
    cx = w / 2
    return _Body(top=top, head=head, cx=cx,
                 face=(cx - 0.35 * head, top + 0.3 * head, 0.7 * head, 0.7 * head), found=False)


# ----------------------------------------------------------------------------- person
def _body_prior(body: _Body, shape: tuple[int, int], centre_of_row: np.ndarray) -> np.ndarray:
    """Soft probability that a pixel belongs to the person, from a figure in head units.

    Half-widths follow adult proportions: head 0.4, shoulders 1.0, hips 0.85, legs together
    0.75 heads; arms are free, so a weaker band of one arm length either side.
    """
    h, w = shape
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    u = (yy - body.top) / body.head                        # head units below the crown
    half = np.interp(u, [0.0, 1.0, 1.3, 2.0, 3.0, 4.0, 5.0, 8.0],
                     [0.4, 0.4, 0.8, 0.95, 0.8, 0.85, 0.5, 0.3]) * body.head
    d = np.abs(xx - centre_of_row[:, None]) - half           # >0 outside the core figure
    core = _sigmoid(-d / (0.15 * body.head))
    arms = 0.2 * _sigmoid(-(np.abs(xx - centre_of_row[:, None]) - 3.0 * body.head)
                           / (0.3 * body.head)) * _sigmoid((u - 1.0) / 0.2) \
        * _sigmoid((4.5 - u) / 0.3)
    inside = _sigmoid((u + 0.3) / 0.1) * _sigmoid((_STATURE_HEADS + 0.4 - u) / 0.2)
    return np.clip(0.85 * np.maximum(core, arms) * inside, 0.03, 0.85)


def _segment_person(img: np.ndarray, body: _Body) -> np.ndarray:
    """GrabCut (Rother et al. 2004, OpenCV) of the whole person from a body-shaped trimap.

    Probable foreground is the figure in head units, probable background the reach of the
    arms around it, sure background the rest; sure foreground is the face, the sternum and
    the crotch (the last keeps trousers whose colour matches the background).
    """
    h, w = img.shape[:2]
    prior = _body_prior(body, (h, w), np.full(h, body.cx, np.float32))
    yy, xx = np.mgrid[0:h, 0:w]
    u = (yy - body.top) / body.head
    dx = np.abs(xx - body.cx) / body.head
    trimap = np.full((h, w), cv2.GC_BGD, np.uint8)
    trimap[prior > 0.04] = cv2.GC_PR_BGD
    trimap[prior > 0.45] = cv2.GC_PR_FGD
    fx, fy, fw, fh = body.face
    face_core = (np.abs(xx - (fx + fw / 2)) < 0.25 * fw) & (np.abs(yy - (fy + fh / 2)) < 0.3 * fh)
    sure = face_core | ((dx < 0.3) & (u > 1.6) & (u < 2.8)) | ((dx < 0.2) & (u > 3.6) & (u < 4.1))
    if body.found:
        trimap[sure] = cv2.GC_FGD
    if not (trimap == cv2.GC_PR_BGD).any() or not (trimap == cv2.GC_BGD).any():
        trimap[0, :] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    # GrabCut seeds its GMMs by k-means on OpenCV's global RNG: fix it, same photo same parse
    cv2.setRNGSeed(12345)
    try:
        cv2.grabCut(np.ascontiguousarray(img), trimap, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    except cv2.error:      # degenerate trimaps (e.g. a flat image): fall back to the prior
        return prior > 0.5
    mask = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
    mask = _keep_components(mask, sure)
    mask = _drop_detached(img, mask, sure, prior > 0.45, body.head)
    # fill small holes only: the gap between the legs is a hole when the feet touch
    holes = ndi.binary_fill_holes(mask) & ~mask
    lab, n = ndi.label(holes)
    if n:
        sizes = np.bincount(lab.ravel())
        mask = mask | (np.isin(lab, np.nonzero(sizes < 0.3 * body.head ** 2)[0]) & holes)
    return mask


def _drop_detached(img: np.ndarray, mask: np.ndarray, seed: np.ndarray, core: np.ndarray,
                   head: float) -> np.ndarray:
    """Drop the parts of a person mask that lie beside the figure behind strong edges.

    GrabCut keeps props that share the person's colours (a helmet held at the hip, a flag
    or a table behind the shoulder). The geodesic distance from the sure-foreground seeds,
    with a cost that grows with the squared colour gradient (the geodesic segmentation of
    Bai & Sapiro 2009; Dijkstra through scikit-image's ``MCP_Geometric``), stays low over
    the connected body and jumps across the contour of a prop; the regions beyond such a
    jump that lie mostly outside the body figure in head units are removed.
    """
    from skimage.graph import MCP_Geometric

    if not seed.any() or not mask.any():
        return mask
    lab = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(np.float32), (0, 0), 1.0)
    grad = np.sqrt((cv2.Sobel(lab, cv2.CV_32F, 1, 0) ** 2
                    + cv2.Sobel(lab, cv2.CV_32F, 0, 1) ** 2).sum(2))
    g0 = max(float(np.percentile(grad[mask], 90)), _EPS)
    cost = np.where(mask, 0.01 + (grad / g0) ** 2, np.inf)
    dist, _ = MCP_Geometric(cost).find_costs(np.argwhere(seed & mask))
    far = mask & (dist > _GEO_FAR * head)
    lab_far, n = ndi.label(far)
    if n == 0:
        return mask
    index = np.arange(1, n + 1)
    inside = ndi.mean(core, lab_far, index)
    # a limb or a skirt overlaps the figure broadly; a prop only at its edge
    overlap = ndi.sum(core, lab_far, index) / head ** 2
    # ... and whose colours the connected body does not wear (a sleeve does)
    idx = _colour_index(cv2.cvtColor(img, cv2.COLOR_RGB2LAB), 8)
    hist = np.bincount((lab_far * 512 + idx)[mask].ravel(), minlength=(n + 1) * 512)
    hist = ndi.gaussian_filter(hist.reshape(n + 1, 8, 8, 8).astype(np.float64),
                               (0, 0.7, 0.7, 0.7)).reshape(n + 1, 512)
    alien = _hellinger(hist[0], hist[1:]) > 0.45      # row 0: the body near the seeds
    drop = np.isin(lab_far, index[(inside < 0.5) & (overlap < 0.6) & alien])
    return _keep_components(mask & ~drop, seed)


# ----------------------------------------------------------------------------- garments
def _skin_likelihood(ycc: np.ndarray, body: _Body) -> np.ndarray:
    """Skin probability from a Gaussian CrCb model of the face (falls back to a broad rule)."""
    fx, fy, fw, fh = body.face
    h, w = ycc.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    zone = (np.abs(xx - (fx + fw / 2)) < 0.3 * fw) & (yy > fy + 0.35 * fh) \
        & (yy < fy + 0.8 * fh)
    broad = _broad_skin(ycc)
    zone &= broad
    f = ycc.astype(np.float32)
    if zone.sum() < 12:
        return broad.astype(np.float32) * 0.8
    mu = f[zone].mean(0)
    # brightness varies with shading over the body: a loose tolerance on Y, a tight one on
    # the chroma (which separates skin from beige or tan cloth)
    cov = np.cov(f[zone].T) + np.diag([20.0 ** 2, 6.0, 6.0])
    d = f - mu
    m2 = np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov), d)
    return np.exp(-0.5 * m2 / 4.0).astype(np.float32) * broad


def _hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance (0 same, 1 disjoint) between histograms along the last axis."""
    p = p / np.maximum(p.sum(-1, keepdims=True), _EPS)
    q = q / np.maximum(q.sum(-1, keepdims=True), _EPS)
    return np.sqrt(np.clip(1.0 - np.sqrt(p * q).sum(-1), 0.0, 1.0))


def _coarse_histograms(lab: np.ndarray, mask: np.ndarray, bins: int = 8) -> np.ndarray:
    """Per-row colour histograms ``(h, bins**3)`` of the pixels in ``mask``, smoothed over
    neighbouring colour bins (shading moves a fabric by a bin or so)."""
    h = lab.shape[0]
    idx = _colour_index(lab, bins) + (np.arange(h) * bins ** 3)[:, None]
    rows = np.bincount(idx[mask], minlength=h * bins ** 3).astype(np.float64)
    return ndi.gaussian_filter(rows.reshape(h, bins, bins, bins), (0, 0.7, 0.7, 0.7)
                               ).reshape(h, -1)


@dataclass(frozen=True)
class _Steps:
    dist: np.ndarray   # per row: Hellinger distance between the windows above and below
    mass: np.ndarray   # per row: pixels per row in the poorer of the two windows


def _histogram_steps(lab: np.ndarray, mask: np.ndarray, win: int) -> _Steps:
    """How much the colour histogram of ``mask`` changes across each row (``win`` rows
    above against ``win`` rows below), from cumulative per-row histograms."""
    rh = _coarse_histograms(lab, mask)
    h = rh.shape[0]
    cum = np.vstack([np.zeros((1, rh.shape[1])), np.cumsum(rh, 0)])
    r = np.arange(h)
    ha, hb = cum[r] - cum[np.clip(r - win, 0, h)], cum[np.clip(r + win, 0, h)] - cum[r]
    return _Steps(_hellinger(ha, hb), np.minimum(ha.sum(1), hb.sum(1)) / win)


def _row_runs(mask: np.ndarray) -> np.ndarray:
    """Number of horizontal runs of True per row."""
    return mask[:, 0].astype(int) + np.sum(mask[:, 1:] & ~mask[:, :-1], axis=1)


def _parse(img: np.ndarray, body: _Body) -> tuple[np.ndarray, np.ndarray, dict]:
    """Working-scale parse: (probabilities (4, h, w), person mask, diagnostics)."""
    h, w = img.shape[:2]
    lab = cv2.cvtColor(img, cv2.COLOR_RGB2LAB)
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    idx = _colour_index(lab)
    wr, wd = _contrast_weights(lab, 2.0)
    person = _segment_person(img, body)
    yy, xx = np.mgrid[0:h, 0:w]
    u = (yy - body.top) / body.head

    # stature from the silhouette when the feet are in the frame
    rows = np.nonzero(person.any(1))[0]
    feet_in = rows.size > 0 and rows[-1] < h - 2 and rows[-1] > body.row(5.5)
    stature = (rows[-1] - body.top) / body.head if feet_in else _STATURE_HEADS
    k = stature / _STATURE_HEADS   # stretch of the canon (tall models, heels)

    def band(lo: float, hi: float) -> np.ndarray:
        return person & (u >= lo * k) & (u < hi * k)

    def centre_of(zone: np.ndarray) -> float:
        return float(np.median(xx[zone])) if zone.any() else body.cx

    big_cost = 1e3
    skin = _skin_likelihood(ycc, body)
    not_skin = skin < 0.25
    chest = band(*_CHEST)
    chest &= (np.abs(xx - centre_of(chest)) < 0.8 * body.head) & not_skin
    thigh = band(*_THIGH)
    thigh &= (np.abs(xx - centre_of(thigh)) < 0.45 * body.head) & not_skin
    head_zone = band(-1.0, 0.95)
    feet_zone = band(stature / k - 0.45, 99.0) if feet_in else np.zeros_like(person)
    other = (person & (skin > 0.5)) | head_zone | feet_zone

    def model(zone: np.ndarray) -> np.ndarray:
        if zone.sum() < 20:
            return np.full((h, w), 1e-5)
        return _histogram_density(idx, zone.astype(np.float64))

    like_up, like_lo = model(chest), model(thigh)
    # hair is worn on the head and the shoulders, shoes on the feet: their colours explain
    # pixels near there only (a black dress is not hair), skin colours anywhere
    body_other = other & ~head_zone
    like_hd = model(head_zone)
    like_ot = (0.5 * like_hd * _sigmoid((2.5 * k - u) / 0.3)
               + (0.5 * model(body_other) if body_other.sum() >= 20 else 0.0))
    like_ot = np.maximum(like_ot, skin * like_hd.max())

    # where does the upper garment end? strongest horizontal boundary inside the garment
    # between the natural waist and just below the crotch (belt, hem of a top or jacket)
    grad = np.abs(cv2.Sobel(lab.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3)).sum(2)
    core = person & (np.abs(xx - body.cx) < 0.9 * body.head) & (skin < 0.5)
    prof = np.where(core, grad, 0).sum(1) / np.maximum(core.sum(1), 1)
    prof = ndi.uniform_filter1d(prof, 3)
    win = (u[:, 0] >= (_WAIST - 0.4) * k) & (u[:, 0] <= (_CROTCH + 0.3) * k) \
        & (core.sum(1) > 0.3 * body.head)
    if win.any():
        # the hem of a top or jacket is the LOWEST boundary between the garments (a belt or
        # a waistband can lie above it): the lowest local maximum that is strong
        cand = np.nonzero(win)[0]
        p = prof[cand]
        # a boundary between two garments has cloth (not bare legs) just below it
        cloth = (core.sum(1) / np.maximum((person & (np.abs(xx - body.cx)
                                                      < 0.9 * body.head)).sum(1), 1))
        below = ndi.uniform_filter1d(cloth, max(3, int(0.4 * body.head)), origin=-int(
            0.2 * body.head))[cand]
        peak = (p >= np.maximum(np.roll(p, 1), np.roll(p, -1))) & (p >= 0.35 * p.max()) \
            & (below > 0.7)
        split_row = float(cand[np.nonzero(peak)[0][-1]] if peak.any() else cand[np.argmax(p)])
        edge_ratio = float(p.max() / max(np.median(prof[core.sum(1) > 0]), _EPS))
    else:
        split_row, edge_ratio = body.row(3.5 * k), 1.0
    split_u = (split_row - body.top) / body.head

    # an open jacket or a long top hides the waistband at the sides only: down the midline
    # the garments meet where the colour histogram changes most (shirt over shorts), which
    # can lie above the hem found across the body
    mid = person & (skin < 0.5) & (np.abs(xx - body.cx) < 0.45 * body.head)
    msteps = _histogram_steps(lab, mid, max(2, int(0.6 * body.head)))
    mok = (msteps.mass > 0.2 * body.head) & (u[:, 0] > (_WAIST - 0.4) * k) \
        & (u[:, 0] < split_u)
    if mok.any() and msteps.dist[mok].max() > _MID_STEP:
        mid_u = float(u[np.argmax(np.where(mok, msteps.dist, -1)), 0])
        near_mid = _sigmoid((0.35 * body.head - np.abs(xx - body.cx)) / (0.08 * body.head))
        split_u = split_u + near_mid * (mid_u - split_u)
        diag_mid = mid_u
    else:
        diag_mid = None
    pr_up = _sigmoid((u - 1.0 * k) / 0.12) * _sigmoid((split_u - u) / 0.2)
    pr_lo = _sigmoid((u - split_u) / 0.2) * _sigmoid((stature - 0.3 - u) / 0.15)
    pr_ot = 0.2 + _sigmoid((1.0 * k - u) / 0.1) + (_sigmoid((u - stature + 0.4) / 0.1)
                                                   if feet_in else 0.0)
    a = np.stack([pr_ot * like_ot, pr_up * like_up, pr_lo * like_lo])
    a[1:] *= (1.0 - skin) ** 2 + 1e-3          # bare skin is never garment
    post = a / (a.sum(0, keepdims=True) + 1e-30)


    p_g = np.clip(post[1] + post[2], 1e-4, 1 - 1e-4)
    p_u = np.clip(post[1] / (post[1] + post[2] + 1e-30), 1e-4, 1 - 1e-4)

    def cut_garments(person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Garment vs rest of the person, then upper vs lower inside the garment."""
        garment = _min_cut(np.where(person, -np.log(p_g), big_cost),
                           np.where(person, -np.log(1 - p_g), 0.0), wr, wd) & person
        upper = _min_cut(np.where(garment, -np.log(p_u), big_cost),
                         np.where(garment, -np.log(1 - p_u), 0.0), wr, wd) & garment
        return garment, upper

    garment, upper = cut_garments(person)

    # ---- one piece or two?
    diag: dict = {"edge_ratio": edge_ratio, "split_u": split_row, "mid_u": diag_mid,
                  "stature": stature}
    full = False
    if chest.sum() >= 20 and thigh.sum() >= 20:
        to_lab = np.array([100 / 255, 1, 1])
        off = np.array([0, 128, 128])
        de = float(np.linalg.norm((np.median(lab[chest], 0) - off) * to_lab
                                  - (np.median(lab[thigh], 0) - off) * to_lab))
        knee = garment & (np.abs(u - _KNEE * k) < 0.4 * k)
        # patterned cloth leaves small holes: close gaps narrower than a tenth of a head
        gap = max(3, int(0.1 * body.head) | 1)
        knee = ndi.binary_closing(knee, np.ones((1, gap), bool))
        knee = ndi.binary_opening(knee, np.ones((1, 3), bool))
        kr = knee[np.abs(u[:, 0] - _KNEE * k) < 0.4 * k]
        two_legs = kr.size > 0 and float(np.mean(_row_runs(kr) >= 2)) > 0.5
        # a one-piece garment covers the body below the crotch (a top ends above it)
        g_rows = np.nonzero((garment & core).sum(1) > 0.2 * body.head)[0]
        bottom = (g_rows[-1] - body.top) / body.head if g_rows.size else 0.0
        if g_rows.size and g_rows[-1] >= h - 3:
            bottom = np.inf                       # the garment runs out of the frame
        # two-sample (Hellinger) distance of the chest and thigh colour histograms, and the
        # largest change of the histogram down the midline (a waistband, the hem of a top,
        # a shirt inside an open jacket above shorts)
        rh = _coarse_histograms(lab, core & garment)
        ct = float(_hellinger(rh[chest.any(1)].sum(0), rh[thigh.any(1)].sum(0)))
        steps = _histogram_steps(lab, garment & (np.abs(xx - body.cx) < 0.45 * body.head),
                                 max(2, int(0.6 * body.head)))
        okr = (steps.mass > 0.2 * body.head) & (u[:, 0] > 2.5 * k) & (u[:, 0] < _KNEE * k)
        step_max = float(steps.dist[okr].max()) if okr.any() else 0.0
        step_u = float(u[np.argmax(np.where(okr, steps.dist, -1)), 0])
        diag.update(ct=ct, step=step_max, step_u=step_u)
        diag.update(de=de, two_legs=two_legs, bottom=float(bottom))
        # calling a two-piece a dress loses both its classes, the reverse only one: a dress
        # needs every cue, and a one-piece garment reaches below the crotch
        full = (de < 14.0 and step_max < 0.35 and ct < 0.45 and not two_legs
                and bottom > _CROTCH * k)
    diag["full"] = full

    # legs that GrabCut dropped (trousers as pale as the floor): a graph cut inside two leg
    # tubes below the crotch, the lower-garment colours against those of the surroundings
    hips = band(_CROTCH - 0.4, _CROTCH + 0.4)
    leg_cx = centre_of(hips)
    # a lower garment is one tube from the waist down: below the first rows where the
    # legs show bare skin (the hem of shorts or a skirt) there is none (boots, shadows)
    in_legs = person & (np.abs(xx - leg_cx) < 0.7 * body.head) & (u > (_CROTCH - 0.2) * k)
    n_legs = in_legs.sum(1).astype(np.float64)
    bare = ndi.uniform_filter1d((in_legs & (skin > 0.5)).sum(1) / np.maximum(n_legs, 1),
                                max(3, int(0.3 * body.head)))
    bare_rows = np.nonzero((bare > 0.5) & (n_legs > 0.3 * body.head))[0]
    leg_end = float(bare_rows[0]) if bare_rows.size else np.inf
    legs_rows = (u > (_CROTCH - 0.2) * k) & (u < stature - 0.25) & (yy < leg_end)
    half = (0.8 + 0.3 * np.clip((u - _CROTCH * k) / 3.0, 0, 1)) * body.head
    tube = _sigmoid((half - np.abs(xx - leg_cx)) / (0.12 * body.head)) * legs_rows
    if not full and not_skin[hips].sum() >= 20 and tube.any():
        surround = ~person & legs_rows & (tube < 0.05)
        like_bg = model(surround) if surround.sum() >= 20 else np.full((h, w), 1e-5)
        p_leg = 0.5 * tube * like_lo * (1.0 - skin)
        p_leg = np.clip(p_leg / (p_leg + (1.0 - 0.5 * tube) * like_bg + 1e-30), 1e-4, 1 - 1e-4)
        grow = _min_cut(np.where(person, 0.0, -np.log(p_leg)),
                        np.where(person, big_cost, -np.log(1 - p_leg)), 3 * wr, 3 * wd)
        person = _keep_components(grow | person, person)
        garment, upper = cut_garments(person)
    lower = garment & ~upper & (yy < leg_end + 0.2 * body.head)

    labels = np.zeros((h, w), np.uint8)
    if full:
        labels[garment] = 3
    else:
        labels[upper] = 1
        labels[lower] = 2
    onehot = (labels[None] == np.arange(4)[:, None, None]).astype(np.float32)
    soft = np.zeros((4, h, w), np.float32)
    soft[0] = ~person + person * post[0]
    if full:
        soft[3] = person * (post[1] + post[2])
    else:
        soft[1] = person * post[1]
        soft[2] = person * post[2]
    probs = 0.75 * onehot + 0.25 * soft
    probs /= probs.sum(0, keepdims=True)
    return probs, person, diag


# ----------------------------------------------------------------------------- public
def parse_person(image: np.ndarray, *, working_side: int = 384) -> PersonParse:
    """Parse a photo of a person into background, upper, lower and full-body garments.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W, 3) uint8`` RGB photo.
    working_side : int, optional
        Long side, in pixels, of the image on which the parse is computed (64 or more;
        default 384). Larger is slower and slightly sharper before the edge-aware upsampling.

    Returns
    -------
    PersonParse
        ``labels`` ``(H, W) uint8`` (0 background incl. skin/hair/shoes, 1 upper, 2 lower,
        3 full body), ``probabilities`` ``(4, H, W) float32`` summing to 1, ``person``
        ``(H, W) float32`` soft matte in [0, 1], ``person_found`` and ``person_box``
        ``(x0, y0, x1, y1)`` in full-size pixels.

    Raises
    ------
    TypeError
        If ``image`` is not a numpy array.
    ValueError
        If ``image`` is not ``(H, W, 3) uint8`` or ``working_side`` is below 64.

    Notes
    -----
    Methods: LBP face cascade (Liao, Zhu, Lei, Zhang & Li 2007, scikit-image); HOG people
    detector (Dalal & Triggs 2005, OpenCV); GrabCut (Rother, Kolmogorov & Blake 2004,
    OpenCV) for the person; colour-histogram graph cuts with contrast-sensitive pairwise
    terms (Boykov & Jolly 2001) solved by max-flow (Boykov & Kolmogorov 2004, PyMaxflow)
    for the garments; guided-filter upsampling (He, Sun & Tang 2013, OpenCV contrib). Body proportions in head units follow
    the artists' canon (stature about 7.5-8 heads).

    When no person is found, ``person_found`` is False, ``person_box`` is a central box and
    the garment prior is placed in it; ``person`` is then kept low (at most 0.3).
    """
    check_image(image, "image")
    if isinstance(working_side, bool) or not isinstance(working_side, (int, np.integer)):
        raise TypeError(f"working_side must be an int, got {type(working_side).__name__}")
    if working_side < 64:
        raise ValueError(f"working_side must be at least 64 pixels, got {working_side}")
    if min(image.shape[:2]) < 8:
        raise ValueError(f"image must be at least 8x8 pixels, got {image.shape[:2]}")
    big_h, big_w = image.shape[:2]
    scale = min(1.0, working_side / max(big_h, big_w))
    w = max(8, round(big_w * scale))
    h = max(8, round(big_h * scale))
    img = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else image
    sx, sy = w / big_w, h / big_h

    body = _body_from_anchor(image, min(sx, sy), (h, w))
    probs_small, person_small, _ = _parse(img, body)
    found = body.found and person_small.sum() > 0.01 * h * w
    if body.found and not found:
        body = _body_from_anchor(np.zeros((8, 8, 3), np.uint8), 1.0, (h, w))
        body = _Body(top=0.1 * h, head=0.8 * h / _STATURE_HEADS, cx=w / 2,
                     face=body.face, found=False)
        probs_small, person_small, _ = _parse(img, body)

    probs, person = _upsample(image, probs_small, person_small.astype(np.float32))
    if found:
        ys, xs = np.nonzero(person_small)
        box = (int(xs.min() / sx), int(ys.min() / sy),
               int(np.ceil((xs.max() + 1) / sx)), int(np.ceil((ys.max() + 1) / sy)))
    else:
        person = np.minimum(person, 0.3).astype(np.float32)   # not a confident silhouette
        box = (big_w // 4, big_h // 10, big_w - big_w // 4, big_h - big_h // 10)
    box = (max(0, box[0]), max(0, box[1]), min(big_w, box[2]), min(big_h, box[3]))
    labels = np.argmax(probs, axis=0).astype(np.uint8)
    if found:
        labels, probs = _snap_boundaries(image, labels, probs,
                                         band=_SNAP_BAND * (box[3] - box[1]))
    if not found and not labels.any():
        # Nothing to anchor a body on and no garment guessed: the start is the central
        # box as an upper-body garment, for the user's clicks to correct (never a
        # silently empty region).
        x0, y0, x1, y1 = box
        probs[:, y0:y1, x0:x1] = np.array([0.4, 0.6, 0.0, 0.0], np.float32)[:, None, None]
        labels[y0:y1, x0:x1] = 1
    return PersonParse(labels=labels, probabilities=probs, person=person,
                       person_found=bool(found), person_box=box)


def _snap_boundaries(image: np.ndarray, labels: np.ndarray, probs: np.ndarray,
                     band: float) -> tuple[np.ndarray, np.ndarray]:
    """Move each garment's boundary onto the photo's edges with a GrabCut in a narrow band.

    The parse runs at a small working size, so its boundaries are only as good as a few
    working pixels. For each garment class, :func:`snap_to_edges` (GrabCut, Rother,
    Kolmogorov & Blake 2004) decides the pixels within ``band`` of its boundary from the
    colours on the two sides. The classes are cut independently, from the parse as it is
    (so no class's result depends on which went first), in threads (OpenCV's GrabCut
    releases the GIL); then, in class order, a pixel a garment gives up takes the label
    of the nearest pixel outside it and a pixel it takes becomes its own, so where two
    garments claim a pixel the later class has it. The two classes' probabilities are
    swapped where a label changed, so the labels stay their argmax. Above
    ``_SNAP_SIDE`` pixels the cut runs on a reduced copy.
    """
    big_h, big_w = labels.shape
    scale = min(1.0, _SNAP_SIDE / max(big_h, big_w))
    if scale < 1:
        size = (max(8, round(big_w * scale)), max(8, round(big_h * scale)))
        img = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small = cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    else:
        img, small = image, labels
    r = max(1, round(band * scale))
    present = [c for c in range(1, 4) if (small == c).any()]
    with ThreadPoolExecutor(max_workers=max(1, len(present))) as pool:
        cuts = {c: pool.submit(snap_to_edges, img, small == c, r, context=r) for c in present}
    out = small.copy()
    for c in present:
        was = small == c
        new = cuts[c].result()
        given = was & ~new
        if given.any():
            # what the garment gives up goes to its nearest neighbour outside it, which
            # lies within the band: the distance transform runs on a crop around it
            ys, xs = np.nonzero(given)
            y0, x0 = max(0, ys.min() - r - 2), max(0, xs.min() - r - 2)
            y1, x1 = ys.max() + r + 3, xs.max() + r + 3
            _, (iy, ix) = ndi.distance_transform_edt(was[y0:y1, x0:x1], return_indices=True)
            crop = out[y0:y1, x0:x1]
            sel = given[y0:y1, x0:x1]
            crop[sel] = crop[iy, ix][sel]
        out[new] = c
    if scale < 1:
        # back to full size: a soft vote of the classes, only where the labels changed
        changed = cv2.resize((out != small).astype(np.float32), (big_w, big_h),
                             interpolation=cv2.INTER_LINEAR) > 0
        votes = np.stack([cv2.resize((out == c).astype(np.float32), (big_w, big_h),
                                     interpolation=cv2.INTER_LINEAR) for c in range(4)])
        out = np.where(changed, np.argmax(votes, axis=0), labels).astype(np.uint8)
    moved = out != labels
    if moved.any():
        probs = probs.copy()
        ys, xs = np.nonzero(moved)
        old, new_c = labels[ys, xs], out[ys, xs]
        p_old, p_new = probs[old, ys, xs], probs[new_c, ys, xs]
        probs[old, ys, xs], probs[new_c, ys, xs] = p_new, p_old
    return out, probs


def _upsample(image: np.ndarray, probs_small: np.ndarray,
              person_small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge-aware upsampling: bilinear, then a guided filter with the photo as guide."""
    big_h, big_w = image.shape[:2]
    r = max(2, round(max(big_h, big_w) / 256))
    gf = cv2.ximgproc.createGuidedFilter(image, r, (0.02 * 255) ** 2)
    chans = [gf.filter(cv2.resize(c, (big_w, big_h), interpolation=cv2.INTER_LINEAR))
             for c in probs_small.astype(np.float32)]
    probs = np.clip(np.stack(chans), 0.0, None) + 1e-6
    probs = (probs / probs.sum(0, keepdims=True)).astype(np.float32)
    gp = cv2.ximgproc.createGuidedFilter(image, 2 * r, (0.03 * 255) ** 2)
    person = gp.filter(cv2.resize(person_small, (big_w, big_h), interpolation=cv2.INTER_LINEAR))
    return probs, np.clip(person, 0.0, 1.0).astype(np.float32)


class ClassicalParsing(ParsingBackend):
    """The offline garment parser (:func:`parse_person`) as a segmentation back-end.

    The four cloth classes and a soft person matte without any pretrained weights; clicks
    refine the chosen garment through the shared
    :class:`~helpers.segmentation.refine.ClickRefiner`. When no person is found, the
    start is a central box and :attr:`notes` says "no person found: click on the garment".

    Parameters
    ----------
    working_side : int, optional
        Longest side at which the parse runs (default: :func:`parse_person`'s).
    """

    name = "classical_parsing"
    title = "classical garment parser (face, body proportions, graph cuts)"
    capabilities = Capabilities(has_classes=True, takes_clicks=True, gives_matte=True,
                                needs_weights=False)

    def __init__(self, *, working_side: int | None = None) -> None:
        super().__init__()
        self.working_side = working_side
        self.person_found = False
        self.person_box: tuple[int, int, int, int] | None = None

    def _parse(self, image: np.ndarray) -> tuple[ClothParsing, np.ndarray]:
        options = {} if self.working_side is None else {"working_side": self.working_side}
        parse = parse_person(image, **options)
        self.person_found, self.person_box = parse.person_found, parse.person_box
        if not parse.person_found:
            self.notes.append(NO_PERSON_NOTE)
        return (ClothParsing(labels=parse.labels, probabilities=parse.probabilities,
                             backend=self.name), parse.person)
