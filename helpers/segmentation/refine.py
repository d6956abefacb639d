"""Click refinement of any initial garment parse (U²-Net cloth parse or offline parse).

:class:`ClickRefiner` is built once per photo and initial label map; :meth:`ClickRefiner.region`
then turns a choice of garment class(es) plus positive / negative clicks into a full-size
boolean mask, cheaply (the split of segment-anything's ``set_image`` / ``predict``).

Method
------
At a working resolution (long side ``working_side``) the photo is over-segmented into SLIC
superpixels (OpenCV contrib), split along the initial label map so that every superpixel
carries one initial label. Each superpixel keeps its area, mean CIE-Lab colour, a sparse
Lab colour histogram and the contrast-sensitive weight of its boundary with each neighbour.

* A **positive** click at a missed pixel runs a binary graph cut (Boykov & Kolmogorov 2004,
  PyMaxflow) over the superpixels that carry the clicked superpixel's initial label: the
  current mask is fixed inside, negative clicks fixed outside, and every other superpixel
  pays the log-likelihood ratio of its pixels under two colour models, "like the clicked
  part and the chosen garment" against "the other side", plus a bias towards staying as
  it is; only the added part connected to the click is kept, and the colour models are
  refitted once on the result (GrabCut-style, Rother et al. 2004). The other side is, on
  the background label, the background unlike or far from the click, with everything off
  the person matte (which also pays a penalty per pixel): a click inside a big miss takes
  most of it; without a matte, or when that would add more than the garment again, the
  background around the click; with a matte that found no person (the parse's central
  box), what is unlike or far from the click, so that each click builds the garment
  (such a matte taxes no growth, on any label).
  A click **off the matte** says the matte is wrong there
  (a flared skirt, a leg it cut off): the matte then neither bounds nor taxes the growth,
  and the clicked part need not look like the garment chosen, unless that growth would
  be more than the garment again, or unlike the garment with no edge around it (a strip
  of floor beside a shoulder: then only the click's own part comes). On another garment's label
  it is the rest of that label, so a click takes only the part that belongs with the
  chosen garment (a jacket hem the parse gave to the trousers), never the whole other
  garment. Full body the parse does not have is the exception: a full-body garment
  covers an upper and a lower part, so a click for it on an upper- or lower-body part
  takes that connected part whole, as the parse drew it (a half of a dress the parse
  split in two, however patterned: by colour, a patchwork dress came one patch at a
  time). Where the parse has a full-body garment, a click on a part it gave the
  trousers takes only what belongs with it (a tunic's hem, not the trousers).
* A **negative** click inside the mask runs the mirrored cut over the mask's superpixels:
  the part connected to the click that looks more like the clicked part (and the picture
  outside the mask) than like the rest of the garment (with a person matte: its part
  unlike or far from the click, unless that would remove most of it) is removed as a
  whole (neck skin, a bag, a leg, a patch of background), not a disc.

* With a person matte, a positive click's growth never takes in what looks more like
  **skin** than like the chosen garment; the skin model is fitted from the parse itself:
  the superpixels it calls background with confidence inside the person matte (face,
  neck, arms), less what is like and near the click (a missed trouser leg on the matte is
  not skin). A click on skin itself says that part is garment, so it comes with what is
  like and near it (a click on a bare forearm brings the forearm).
* A click's **depth** bounds its change. A click goes in the middle of what is wrong, so
  its distance from the mask's edge (at the working size) says how thick the error is:
  a change more than twice as thick as that (its largest distance to the unchanged
  pixels) is not what the click asks (the same-coloured shorts under a jacket flap that
  was clicked near the jacket's edge, or the black shorts under a black bag that was
  clicked), and only the click's own part changes, itself no farther from the mask's
  edge than twice the click's depth (its few superpixels would otherwise bring a blob of
  wall with a click on the pixel between a jean's edge and the wall). A click in the
  middle of a missed sleeve brings the sleeve; one at its edge, a strip there.
* Each click's **own part** (the clicked superpixel and its like neighbours, often straddling
  a thin error) is then refined at full size by an OpenCV GrabCut (Rother et al. 2004) in a
  small crop, so that a click does not drag in the other half of a mixed superpixel.

* A click whose pixels are far unlike their superpixel is on the superpixel of its colour
  and initial label beside it, when one is within a superpixel side (SLIC drew the
  clicked one across an edge); when none is, it lies on a **sliver** the superpixels
  miss (a hem, a strip of background along a sleeve): it is decided at pixel level
  only, by the boundary refinement below. So is a click on a garment's edge pixel whose
  superpixel lies mostly on the other side of the edge and already is as the click asks.
* Finally the **boundary of what the clicks changed** is redrawn on the photo's edges:
  within three quarters of a superpixel of it, :func:`~helpers.segmentation.boundary.
  snap_to_edges` (GrabCut in a band) decides each pixel where the colours on the two
  sides differ; the clicked pixels stay as the clicks ask. Its colour models are refitted
  once more where the band's crop is at most 0.2 MP: above that, the refit would take a
  click past 0.3 s on two cores (a gown whose clicks changed its whole hem) for a change
  in IoU of 0.003 at most over the benchmark's clicks.

Positive clicks are fixed inside for the negative cuts and negative clicks fixed outside
for the positive cuts; a superpixel claimed by both a positive and a negative cut goes to
the click whose seed it is closer to (colour and distance). Positive clicks only add,
negative clicks only remove, and with no clicks :meth:`ClickRefiner.region` returns
``np.isin(labels, class_ids)`` exactly. At full size, a superpixel's change follows the 0.5
level of the bilinearly upsampled working mask (labels are never interpolated), then the
boundary refinement moves it by at most its band.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import maxflow
import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse import csgraph

from helpers._checks import check_image, check_labels, check_map
from helpers.segment import click_pixel
from helpers.segmentation.boundary import snap_to_edges

__all__ = ["ClickRefiner", "GARMENT_CLASS_IDS", "WORKING_SIDE"]

#: Long side of the working image (pixels).
WORKING_SIDE = 512
#: Garment class ids of the cloth parse (0 is background).
GARMENT_CLASS_IDS = (1, 2, 3)

_N_CLASSES = 4
_SUPERPIXELS = 2000          # target number of SLIC superpixels at the working size
_BINS = 16                   # Lab histogram bins per axis
_HIST_SIGMA = 1.0            # histogram smoothing (bins)
_EPS = 1e-6                  # floor of the colour densities
_SEED_DELTA_E = 12.0         # neighbours this close in mean colour start the click's model
_DROP_WEIGHT = 0.8           # share of the clicked part in a negative click's colour model
_BIAS = 0.6                  # nats per pixel needed to flip a superpixel
_SMOOTH = 6.0                # graph-cut smoothness, nats per unit boundary weight
_ITERATIONS = 2              # colour-model refits (GrabCut-style)
_HARD = 1e12
_PRIOR_PIXELS = 2000.0      # pseudo-count of the picture's colours in 'other' models
_MIN_MODEL_PIXELS = 200   # working pixels needed to trust the mask's colour model
_RELABEL_DELTA_E = 20.0      # Lab distance at which a part counts as unlike the click
_LOCAL_RADIUS = 0.15        # image diagonals: scale of the local colour model around a click
_MAX_SHARE = 0.25           # share of the garment a negative click may remove on its own model
_SKIN_P0 = 0.8              # background probability of the matte's pixels that model skin
_PART_MARGIN = 8            # full-size pixels around a click's own part for its pixel GrabCut
_SNAP_BAND = 0.75           # superpixel sides around a changed boundary that GrabCut redraws
_MIXED_DELTA_E = 40.0       # Lab distance of a click's pixels from its superpixel: a sliver
_WEAK_EDGE = 0.5            # mean contrast weight above which a part has no edge around it
_SNAP_MARGIN = 1.0          # nats by which a redrawn pixel's colour must favour its new side
_PART_DELTA_E = 4.0        # Lab margin by which a pixel of it must be nearer the other side
_DEPTH_RATIO = 2.0          # a click's change may be at most this times as thick as it is deep
_REFIT_PIXELS = 200_000     # crop pixels up to which the band's GrabCut refits once more


def _around(x: float, y: float) -> tuple[slice, slice]:
    """Rows and columns of the 3 x 3 pixels around a click (clipped at the top and left)."""
    return slice(max(0, int(y) - 1), int(y) + 2), slice(max(0, int(x) - 1), int(x) + 2)


def _smooth_density(hist: np.ndarray) -> np.ndarray:
    """Normalised, smoothed Lab histogram density (flat vector of ``_BINS ** 3``)."""
    total = float(hist.sum())
    if total <= 0:
        return np.full(_BINS ** 3, 1.0 / _BINS ** 3)
    h = ndi.gaussian_filter(hist.reshape((_BINS,) * 3) / total, _HIST_SIGMA, mode="constant")
    return h.ravel() / max(float(h.sum()), 1e-12)


class ClickRefiner:
    """Click refinement engine for one photo and one initial garment parse.

    Parameters
    ----------
    image:
        ``(H, W, 3) uint8`` RGB photo.
    labels:
        ``(H, W) uint8`` initial parse, values in {0: background, 1: upper body,
        2: lower body, 3: full body}.
    probabilities:
        optional ``(4, H, W) float32`` class probabilities of the parse; a superpixel the
        parse thinks is background is a little harder to add with a positive click.
    person:
        optional ``(H, W) float32`` soft person matte in [0, 1]; used like the background
        probability (positive clicks do not readily spread off the person).
    working_side:
        long side of the working image in pixels (the full size if smaller).

    The expensive work (superpixels, colour histograms, graph weights) happens here;
    :meth:`region` is cheap and may be called for every click.
    """

    def __init__(self, image: np.ndarray, labels: np.ndarray,
                 probabilities: np.ndarray | None = None, person: np.ndarray | None = None,
                 *, working_side: int = WORKING_SIDE) -> None:
        check_image(image)
        height, width = image.shape[:2]
        check_labels(labels, shape=(height, width))
        if labels.size and int(labels.max()) >= _N_CLASSES:
            raise ValueError(
                f"labels must hold class ids 0-3 (0 background, 1 upper body, 2 lower body, "
                f"3 full body), found {int(labels.max())}")
        if int(working_side) < 16:
            raise ValueError(f"working_side must be at least 16 pixels, got {working_side}")
        if probabilities is not None:
            probabilities = self._check_probabilities(probabilities, (height, width))
        if person is not None:
            person = check_map(person, "person", shape=(height, width))
        self.shape = (height, width)
        self.labels = labels
        # full-size connected parts of each garment label, found when a click needs them
        self._label_parts: dict[int, np.ndarray] = {}
        self._image = image

        scale = min(1.0, int(working_side) / max(height, width))
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        self._scale_xy = (w / width, h / height)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else image
        small_labels = (cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
                        if scale < 1 else labels)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)

        # -- over-segmentation: SLIC split along the initial labels
        region_size = max(4, round(np.sqrt(h * w / _SUPERPIXELS)))
        self._side = region_size
        if min(h, w) >= 2 * region_size:
            slic = cv2.ximgproc.createSuperpixelSLIC(
                cv2.GaussianBlur(lab, (3, 3), 0), cv2.ximgproc.SLICO, region_size)
            slic.iterate(5)
            slic.enforceLabelConnectivity(25)
            base = slic.getLabels().astype(np.int64)
        else:
            base = np.zeros((h, w), np.int64)
        code = base * _N_CLASSES + small_labels
        _, sp = np.unique(code.ravel(), return_inverse=True)
        sp = sp.reshape(h, w).astype(np.int32)
        n = int(sp.max()) + 1
        self._sp = sp
        self._n = n
        flat = sp.ravel()
        area = np.bincount(flat, minlength=n).astype(np.float64)
        self._area = area
        sp_label = np.zeros(n, np.uint8)
        sp_label[flat] = small_labels.ravel()
        self._sp_label = sp_label
        lab_f = lab.reshape(-1, 3).astype(np.float64)
        self._mean = np.stack([np.bincount(flat, lab_f[:, k], n) for k in range(3)], 1) / area[:, None]
        yy, xx = np.mgrid[0:h, 0:w]
        self._centre = np.stack([np.bincount(flat, xx.ravel(), n),
                                 np.bincount(flat, yy.ravel(), n)], 1) / area[:, None]
        self._diag = float(np.hypot(h, w))

        # -- colour histograms (sparse superpixel x bin counts)
        q = (lab.reshape(-1, 3) // (256 // _BINS)).astype(np.int64)
        bins = (q[:, 0] * _BINS + q[:, 1]) * _BINS + q[:, 2]
        self._hist = sparse.csr_matrix((np.ones(flat.size), (flat, bins)), shape=(n, _BINS ** 3))
        self._hist_t = self._hist.T.tocsr()

        # -- contrast-sensitive boundary weights between neighbouring superpixels
        smooth_lab = cv2.GaussianBlur(lab, (3, 3), 0).astype(np.float32)
        pairs, diffs = [], []
        for a, b, ca, cb in ((sp[:, :-1], sp[:, 1:], smooth_lab[:, :-1], smooth_lab[:, 1:]),
                             (sp[:-1], sp[1:], smooth_lab[:-1], smooth_lab[1:])):
            d2 = np.sum((ca - cb) ** 2, axis=2)
            diffs.append(d2.ravel())
            sel = a != b
            pairs.append((a[sel], b[sel], d2[sel]))
        all_d2 = np.concatenate(diffs)
        beta = 1.0 / (2.0 * max(float(all_d2.mean()), 1e-6)) if all_d2.size else 0.0
        i = np.concatenate([p[0] for p in pairs]).astype(np.int64)
        j = np.concatenate([p[1] for p in pairs]).astype(np.int64)
        wgt = np.exp(-beta * np.concatenate([p[2] for p in pairs]))
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        key, inv = np.unique(lo * n + hi, return_inverse=True)
        self._edge_i = (key // n).astype(np.int64)
        self._edge_j = (key % n).astype(np.int64)
        self._edge_w = np.bincount(inv, wgt, key.size)
        self._edge_len = np.bincount(inv, minlength=key.size).astype(np.float64)
        self._adj = sparse.coo_matrix(
            (np.ones(2 * key.size), (np.r_[self._edge_i, self._edge_j],
                                     np.r_[self._edge_j, self._edge_i])), shape=(n, n)).tocsr()

        # -- pseudo-counts of the whole picture's colours (a weak prior for small models)
        whole = np.asarray(self._hist_t @ np.ones(n)).ravel()
        self._prior_hist = whole * (_PRIOR_PIXELS / max(float(whole.sum()), 1.0))

        # -- per-class colour histograms and the prior of "not background"
        self._class_hist = np.stack([
            np.asarray(self._hist_t @ (sp_label == k).astype(np.float64)).ravel()
            for k in range(_N_CLASSES)])
        prior = None
        mean_p0 = np.zeros(n)
        if probabilities is not None:
            p0 = probabilities[0]
            p0 = cv2.resize(p0, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else p0
            prior = 1.0 - p0.astype(np.float64)
            mean_p0 = np.bincount(flat, p0.ravel().astype(np.float64), n) / area
        if person is not None:
            pm = cv2.resize(person, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else person
            pm = pm.astype(np.float64)
            prior = pm if prior is None else np.minimum(prior, pm)
        self._person = None
        # a matte that found no person (the parse's central box) taxes no growth
        self._no_person = person is not None and float(person.max()) < 0.5
        # superpixels that model skin (none when too few to trust); each click fits its
        # own skin histogram from them, leaving out what is like and near it
        self._skin = np.zeros(n, bool)
        if person is not None:
            self._person = np.bincount(flat, pm.ravel(), n) / area
            # skin (face, neck, arms): what the parse calls background on the person
            skin = (sp_label == 0) & (self._person > 0.5)
            if probabilities is not None:
                skin &= mean_p0 > _SKIN_P0
            if area[skin].sum() >= _MIN_MODEL_PIXELS:
                self._skin = skin
        if prior is None:
            self._off_person = np.zeros(n)
        else:
            mean_prior = np.bincount(flat, prior.ravel(), n) / area
            # nats per pixel against adding superpixels the parse puts off the person
            self._off_person = np.clip(0.5 - mean_prior, 0.0, 0.5) * 2.0

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _check_probabilities(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        if not isinstance(probabilities, np.ndarray):
            raise TypeError("probabilities must be a numpy array of shape (4, H, W), got "
                            f"{type(probabilities).__name__}")
        if probabilities.shape != (_N_CLASSES, *shape):
            raise ValueError(f"probabilities must have shape (4, H, W) = {(_N_CLASSES, *shape)}, "
                             f"got {probabilities.shape}")
        if not np.issubdtype(probabilities.dtype, np.floating):
            raise ValueError(f"probabilities must be float, got dtype {probabilities.dtype}")
        probabilities = probabilities.astype(np.float32, copy=False)
        lo, hi = float(probabilities.min()), float(probabilities.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise ValueError(f"probabilities must lie in [0, 1], found range [{lo:g}, {hi:g}]")
        return probabilities

    def _check_ids(self, class_ids: Iterable[int]) -> tuple[int, ...]:
        if isinstance(class_ids, (str, bytes, int, float, np.generic)) or not isinstance(
                class_ids, Iterable):
            class_ids = (class_ids,)  # one id (or something else, refused below by name)
        ids = []
        for c in class_ids:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)):
                raise ValueError(
                    f"class ids must be integers in {GARMENT_CLASS_IDS} (1 upper body, 2 lower "
                    f"body, 3 full body), got {c!r}; helpers.segment.resolve_region turns "
                    "names and clicks into ids")
            if int(c) not in GARMENT_CLASS_IDS:
                raise ValueError(
                    f"unknown class id {int(c)}; valid garment ids: 1 (upper body), "
                    "2 (lower body), 3 (full body)")
            ids.append(int(c))
        if not ids:
            raise ValueError("class_ids is empty; choose at least one of 1, 2, 3")
        return tuple(sorted(set(ids)))

    def _check_clicks(self, clicks: Sequence, kind: str) -> np.ndarray:
        height, width = self.shape
        if clicks is None:
            return np.zeros((0, 2))
        try:
            pts = np.asarray(clicks, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{kind} clicks must be a sequence of (x, y) pairs, got {clicks!r}"
                             ) from exc
        if pts.size == 0:
            return np.zeros((0, 2))
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"{kind} clicks must be a sequence of (x, y) pairs, got shape "
                             f"{pts.shape}")
        # one convention with the rest of the package: a click hits its nearest pixel
        pixels = []
        for x, y in pts:
            try:
                pixels.append(click_pixel((x, y), (height, width)))
            except ValueError as exc:
                raise ValueError(f"{kind} click: {exc}") from None
        return np.asarray(pixels, dtype=np.float64)

    # ------------------------------------------------------------------ click mechanics
    def _working_pixel(self, pt: np.ndarray) -> tuple[int, int]:
        """``(row, column)`` of a full-size click at the working size."""
        h, w = self._sp.shape
        return (min(h - 1, int(pt[1] * self._scale_xy[1])),
                min(w - 1, int(pt[0] * self._scale_xy[0])))

    def _click_colour(self, pt: np.ndarray) -> np.ndarray:
        """Median CIE-Lab colour of the 3 x 3 full-size pixels around a click."""
        patch = self._image[_around(int(pt[0]), int(pt[1]))].reshape(1, -1, 3)
        lab = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2Lab)[0]
        return np.median(lab.astype(np.float64), axis=0)

    def _click_place(self, pt: np.ndarray) -> tuple[int, bool]:
        """The superpixel a click is on, and whether the click lies on a sliver.

        The superpixel is the one under the click or, when that one is mostly of another
        colour (SLIC drew it across an edge), the one of the click's colour and initial
        label within a superpixel side of it. A click still far unlike it lies on a sliver
        the superpixels miss.
        """
        row, col = self._working_pixel(pt)
        node = int(self._sp[row, col])
        colour = self._click_colour(pt)
        if float(np.linalg.norm(colour - self._mean[node])) <= _MIXED_DELTA_E:
            return node, False
        s = self._side
        near = np.unique(self._sp[max(0, row - s):row + s + 1, max(0, col - s):col + s + 1])
        near = near[self._sp_label[near] == self._sp_label[node]]
        distance = np.linalg.norm(self._mean[near] - colour, axis=1)
        best = int(np.argmin(distance))
        return int(near[best]), bool(distance[best] > _MIXED_DELTA_E)

    def _histogram(self, weights: np.ndarray) -> np.ndarray:
        """Colour histogram of superpixels weighted by ``weights`` (bool or float)."""
        return np.asarray(self._hist_t @ weights.astype(np.float64)).ravel()

    def _log_ratio(self, fg_hist: np.ndarray, bg_hist: np.ndarray) -> np.ndarray:
        """Per superpixel: sum over its pixels of log p_fg(colour) - log p_bg(colour)."""
        per_bin = np.log(fg_hist + _EPS) - np.log(bg_hist + _EPS)
        return np.asarray(self._hist @ per_bin).ravel()

    def _cut(self, gain: np.ndarray, fixed_in: np.ndarray, fixed_out: np.ndarray) -> np.ndarray:
        """Binary min-cut over the superpixel graph; ``gain`` > 0 favours "in"."""
        n = self._n
        g = maxflow.Graph[float](n, self._edge_i.size)
        nodes = g.add_nodes(n)
        src = np.where(fixed_in, _HARD, np.maximum(gain, 0.0))
        snk = np.where(fixed_out, _HARD, np.maximum(-gain, 0.0))
        src[fixed_out] = 0.0
        g.add_grid_tedges(nodes, src, snk)
        cap = _SMOOTH * self._edge_w
        g.add_edges(self._edge_i, self._edge_j, cap, cap)
        g.maxflow()
        return ~g.get_grid_segments(nodes)

    def _component(self, members: np.ndarray, node: int) -> np.ndarray:
        """Superpixels of ``members`` connected to ``node`` through ``members``."""
        out = np.zeros(self._n, bool)
        if not members[node]:
            return out
        idx = np.flatnonzero(members)
        sub = self._adj[idx][:, idx]
        _, comp = csgraph.connected_components(sub, directed=False)
        out[idx[comp == comp[np.searchsorted(idx, node)]]] = True
        return out

    def _seed_part(self, node: int, domain: np.ndarray) -> np.ndarray:
        """The clicked superpixel and its neighbours of like colour inside ``domain``."""
        seed = np.zeros(self._n, bool)
        seed[node] = True
        nb = self._adj.indices[self._adj.indptr[node]:self._adj.indptr[node + 1]]
        colour = np.linalg.norm(self._mean[nb] - self._mean[node], axis=1)
        seed[nb[domain[nb] & (colour < _SEED_DELTA_E)]] = True
        return seed

    def _likeness(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """Per superpixel, in [0, 1]: likeness in colour to ``node`` and nearness to it."""
        colour = np.linalg.norm(self._mean - self._mean[node], axis=1)
        space = np.linalg.norm(self._centre - self._centre[node], axis=1)
        return (np.exp(-0.5 * (colour / _RELABEL_DELTA_E) ** 2),
                np.exp(-0.5 * (space / (_LOCAL_RADIUS * self._diag)) ** 2))

    def _edge_likeness(self, part: np.ndarray, mask: np.ndarray) -> float:
        """Mean contrast weight in (0, 1] along the boundary of ``part`` with what is in
        neither ``part`` nor ``mask``: near 1 where no edge bounds it, near 0 along edges."""
        a, b = part[self._edge_i], part[self._edge_j]
        rest_a, rest_b = ~(part | mask)[self._edge_i], ~(part | mask)[self._edge_j]
        cut = (a & rest_b) | (b & rest_a)
        if not cut.any():
            return 0.0
        return float(self._edge_w[cut].sum() / self._edge_len[cut].sum())

    def _elsewhere(self, node: int) -> np.ndarray:
        """Per superpixel, in [0, 1]: how little it can belong with a click at ``node``.

        High for superpixels unlike the click in colour or far from it: the "other side"
        a click's part is weighed against, without the part itself (a big miss near the
        click would otherwise sit in both models and never be taken).
        """
        like, near = self._likeness(node)
        return 1.0 - like * near

    def _grow(self, node: int, mask: np.ndarray, keep_out: np.ndarray) -> np.ndarray:
        """Superpixels a positive click at ``node`` adds to ``mask``.

        The candidates are the superpixels outside the mask that carry the clicked
        superpixel's initial label (the click corrects that label, nothing else); a
        GrabCut-style graph cut (Rother et al. 2004, PyMaxflow) keeps those that look like
        the clicked part and the chosen garment rather than like the "other side":

        * on the background label, the background that is unlike or far from the click
          and, with a person matte, everything off the person (which also pays a penalty
          per pixel); without a matte, or when that would add more than the garment
          again, the background around the click; with a matte that found no person, the
          background unlike or far from the click (nothing else says where the garment
          ends);
        * on another garment's label, the rest of that label: only the part of it that
          belongs with the chosen garment comes (a jacket hem the parse gave to the
          trousers); a garment built from nothing (or from a click unlike it) is weighed
          against the rest unlike or far from the click (half of a split dress, when
          :meth:`_whole_parts` did not take it whole).
        """
        label = self._sp_label[node]
        domain = ~mask & (self._sp_label == label)
        area = self._area
        mask_hist = self._histogram(mask)
        has_model = mask_hist.sum() >= _MIN_MODEL_PIXELS
        prior = _smooth_density(self._prior_hist)
        if has_model and (label != 0 or self._person is not None):
            # a click unlike the chosen garment starts a part of its own colours (another
            # garment's part, the dark skirt under a patterned bodice, a trouser leg in
            # shadow); only on the background without a matte do the garment's colours
            # stay the one bound on the growth
            typical = self._log_ratio(_smooth_density(mask_hist), prior)[node] / area[node]
            has_model = typical > 0
        seed_part = self._seed_part(node, domain)
        model = mask_hist if has_model else None
        if label != 0:
            # another garment's label: weighed against the rest of that label, so only the
            # part that belongs with the chosen garment comes (a jacket hem the parse gave
            # to the trousers); a garment built from nothing (or from a click unlike it)
            # against the rest unlike or far from the click only (half of a split dress)
            weight = domain if model is not None else domain * self._elsewhere(node)
            return self._grow_cut(node, seed_part, mask, domain, keep_out,
                                  weight.astype(np.float64), model,
                                  off_person=not self._no_person)
        near = domain * self._likeness(node)[1]
        if self._person is None:
            # no matte to bound the growth: the background around the click is the other side
            return self._grow_cut(node, seed_part, mask, domain, keep_out, near, model)
        if self._no_person:
            # the matte found no person (the start is a central box): every click builds
            # the garment, weighed against what is unlike or far from it
            return self._grow_cut(node, seed_part, mask, domain, keep_out,
                                  domain * self._elsewhere(node), model, True, off_person=False)
        if self._person[node] < 0.5:
            # a click off the matte says the matte is wrong there (a flared skirt, a leg
            # the matte cut off): the background around the click is the other side, and
            # the matte no longer taxes the growth
            added = self._grow_cut(node, seed_part, mask, domain, keep_out, near, model, True,
                                   off_person=False)
            if model is None and self._edge_likeness(added, mask) > _WEAK_EDGE:
                # unlike the garment, off the person, and no edge around what would come
                # (a strip of floor beside the shoulder): only the click's own part comes
                return seed_part
            if area[added].sum() > area[mask].sum():
                # more than the garment again (a floor of the trousers' grey): the matte is
                # wrong near the click only, so it taxes the growth again
                added = self._grow_cut(node, seed_part, mask, domain, keep_out, near, model,
                                       True)
            return added
        weight = domain * np.maximum(self._elsewhere(node), 1.0 - self._person)
        added = self._grow_cut(node, seed_part, mask, domain, keep_out, weight, model, True)
        if area[added].sum() > area[mask].sum():
            # more than the garment again: too much to trust the click's part alone
            added = self._grow_cut(node, seed_part, mask, domain, keep_out, near, model, True)
        return added

    def _grow_cut(self, node: int, added: np.ndarray, mask: np.ndarray, domain: np.ndarray,
                  keep_out: np.ndarray, weight: np.ndarray,
                  mask_hist: np.ndarray | None, skin: bool = False,
                  off_person: bool = True) -> np.ndarray:
        """GrabCut-style iterated graph cut (Rother et al. 2004; PyMaxflow) of one growth.

        ``added`` starts the click's colour model, ``weight`` weighs the pixels of the
        other side's model, ``mask_hist`` (or None) is the chosen garment's colours;
        ``skin``: a pixel must also look more like the garment than like the skin model.
        """
        area = self._area
        penalty = _BIAS + self._off_person if off_person else np.full(self._n, _BIAS)
        skin_density = None
        if skin and self._skin.any():
            # the skin model is what the parse calls background on the person; the click
            # says its own part is garment (a trouser leg the parse missed), so what is
            # like and near it does not count as skin
            skin_hist = self._histogram(self._skin * self._elsewhere(node))
            if skin_hist.sum() >= _MIN_MODEL_PIXELS:
                skin_density = _smooth_density(skin_hist)
        for _ in range(_ITERATIONS):
            # off the matte nothing bounds the growth: the other side keeps what was added,
            # or a click on a strip of floor would take the floor's colour as its own
            other = weight * ~added if off_person else weight
            bg = _smooth_density(self._histogram(other) + self._prior_hist)
            part = _smooth_density(self._histogram(added))
            lr = self._log_ratio(part, bg)
            if mask_hist is not None:
                lr = np.minimum(lr, self._log_ratio(_smooth_density(mask_hist), bg))
            if skin_density is not None:
                # never add what looks more like skin than like the garment (a face of the
                # colour of the shirt collar that was clicked), or than like the clicked
                # part when the garment's colours do not apply
                garment = part if mask_hist is None else _smooth_density(mask_hist)
                lr = np.minimum(lr, self._log_ratio(garment, skin_density))
            gain = lr - area * penalty
            seed = added & domain
            seed[node] = True
            inside = self._cut(gain, mask | seed, (keep_out | ~domain) & ~mask & ~seed)
            added = self._component(inside & domain, node)
            added[node] = True
        return added

    def _shrink(self, node: int, mask: np.ndarray, keep_in: np.ndarray) -> np.ndarray:
        """Superpixels a negative click at ``node`` removes from ``mask``.

        The candidates are the mask's superpixels that carry the clicked superpixel's
        initial label; the mirrored cut removes those that look like the clicked part
        rather than like the rest of the garment (its part unlike or far from the click).
        With a person matte, the mask's superpixels off the person go more readily. When
        the click's colours are the garment's own (a black bag on black shorts), what would
        go is far thicker than the click is deep: :meth:`region` then keeps to the click's
        own part (:meth:`_beyond_depth`).
        """
        domain = mask & (self._sp_label == self._sp_label[node])
        area = self._area
        seed_part = self._seed_part(node, domain)
        whole = mask.astype(np.float64)
        removed = self._shrink_cut(node, seed_part, mask, domain, keep_in,
                                   whole if self._person is None else mask * self._elsewhere(node))
        if area[removed].sum() > _MAX_SHARE * area[domain].sum():
            # most of the garment: the click's part is no minority, weigh it against it all;
            # that is the more cautious cut, unless the rest of the garment looks like the
            # outside (a light frame in a box started from nothing): then it would take
            # everything, and the first cut stands
            again = self._shrink_cut(node, seed_part, mask, domain, keep_in, whole)
            if area[again].sum() < area[removed].sum():
                removed = again
        if not (domain & ~removed).any():
            # a negative click says part of the chosen garment is wrong, never all of it
            removed = seed_part
        return removed

    def _shrink_cut(self, node: int, removed: np.ndarray, mask: np.ndarray,
                    domain: np.ndarray, keep_in: np.ndarray,
                    keep_weight: np.ndarray) -> np.ndarray:
        """The mirrored iterated graph cut of one removal; ``keep_weight`` weighs the
        pixels of the garment's model."""
        area = self._area
        outside_hist = self._histogram(~mask)
        for _ in range(_ITERATIONS):
            part = self._histogram(removed)
            drop = _DROP_WEIGHT * _smooth_density(part) + (1 - _DROP_WEIGHT) * _smooth_density(
                outside_hist)
            keep = _smooth_density(self._histogram(keep_weight * ~removed) + self._prior_hist)
            gain = self._log_ratio(keep, drop) + area * (_BIAS - self._off_person)
            seed = removed.copy()
            seed[node] = True
            inside = self._cut(gain, (keep_in | ~domain) & mask & ~seed, ~mask | seed)
            removed = self._component(~inside & domain, node)
            removed[node] = True
        return removed

    # ------------------------------------------------------------------ public API
    def region(self, class_ids: Iterable[int], positive: Sequence = (),
               negative: Sequence = ()) -> np.ndarray:
        """Full-size ``(H, W) bool`` mask of the chosen garment class(es) after the clicks.

        ``positive`` / ``negative`` are sequences of ``(x, y)`` clicks in full-size pixels
        (x the column, y the row), each taken at its nearest pixel
        (:func:`helpers.segment.click_pixel`, which raises ``ValueError`` for a click off
        the image or not finite). Without clicks the result is exactly
        ``np.isin(labels, class_ids)``.
        """
        ids = self._check_ids(class_ids)
        pos = self._check_clicks(positive, "positive")
        neg = self._check_clicks(negative, "negative")
        base = np.isin(self.labels, ids)
        if len(pos) == 0 and len(neg) == 0:
            return base

        m0 = np.isin(self._sp_label, ids)
        # each click's superpixel, and whether it lies on a sliver, found once
        places = {True: [self._click_place(p) for p in pos],
                  False: [self._click_place(p) for p in neg]}
        took = np.zeros(len(pos), bool)
        if 3 in ids and len(pos) and not base.any():
            # the parse has none of the chosen garment: a full-body garment split in two;
            # a click that took its part whole has said all it means
            base, m0, took = self._whole_parts(base, m0, pos, [n for n, _ in places[True]],
                                               {n for n, _ in places[False]})
            if took.all() and len(neg) == 0:
                return base
        # a click whose pixels differ from its superpixel lies on a sliver that the
        # superpixel mostly misses: it is decided at pixel level only (see _snap)
        # each click placed once: (point, positive, its superpixel or None on a sliver)
        placed = []
        for points, positive in ((pos, True), (neg, False)):
            for k, p in enumerate(points):
                if positive and took[k]:
                    continue
                node, sliver = places[positive][k]
                # a pixel at the garment's edge may lie on the other side of the edge than
                # most of its superpixel: when the superpixel already is as the click asks
                # and the pixel is not, the click is decided at pixel level as well
                sliver |= bool(m0[node] == positive
                               and base[int(p[1]), int(p[0])] != positive)
                placed.append((p, positive, None if sliver else node))
        pixel_clicks = [(p, positive) for p, positive, node in placed if node is None]
        pos, neg = (np.array([p for p, positive, node in placed
                              if positive == sign and node is not None]).reshape(-1, 2)
                    for sign in (True, False))
        pos_nodes = [node for _, positive, node in placed if positive and node is not None]
        neg_nodes = [node for _, positive, node in placed
                     if not positive and node is not None]
        pos_seed = np.zeros(self._n, bool)
        pos_seed[pos_nodes] = True
        # the clicks that took a part whole still keep their superpixels from removals
        pos_seed[[node for (node, _), gone in zip(places[True], took, strict=True) if gone]] = True
        neg_seed = np.zeros(self._n, bool)
        neg_seed[neg_nodes] = True
        # a superpixel clicked both ways keeps its current state
        both = pos_seed & neg_seed
        pos_seed &= ~both
        neg_seed &= ~both

        claims_add = []
        seeds = []
        added = np.zeros(self._n, bool)
        for k, node in enumerate(pos_nodes):
            current = m0 | added
            if not current[node] and pos_seed[node]:
                a = self._grow(node, current, neg_seed)
                own = a & self._seed_part(node, ~current & (self._sp_label == self._sp_label[node]))
                # too thick for the click's depth: its own part only, and that no deeper
                # than the change may be (``beyond``)
                beyond = self._beyond_depth(a, ~current, pos[k])
                if beyond is not None:
                    a = own
                claims_add.append((k, a))
                seeds.append((pos[k], True, own, node, beyond))
                added |= a
        m1 = m0 | added
        claims_remove = []
        removed = np.zeros(self._n, bool)
        for k, node in enumerate(neg_nodes):
            current = m1 & ~removed
            if current[node] and neg_seed[node]:
                r = self._shrink(node, current, pos_seed)
                own = r & self._seed_part(node, current & (self._sp_label == self._sp_label[node]))
                beyond = self._beyond_depth(r, current, neg[k])
                if beyond is not None:
                    r = own
                claims_remove.append((k, r))
                seeds.append((neg[k], False, own, node, beyond))
                removed |= r

        conflict = added & removed
        if conflict.any():
            idx = np.flatnonzero(conflict)
            cost_add = np.full(idx.size, np.inf)
            cost_rem = np.full(idx.size, np.inf)
            for claims, cost, nodes in ((claims_add, cost_add, pos_nodes),
                                        (claims_remove, cost_rem, neg_nodes)):
                for k, c in claims:
                    d = self._affinity_cost(idx, nodes[k])
                    np.minimum(cost, np.where(c[idx], d, np.inf), out=cost)
            to_add = cost_add <= cost_rem
            removed[idx[to_add]] = False
            added[idx[~to_add]] = False
        final = (m0 | added) & ~removed
        out = self._to_full(base, final, added & final, removed & ~final)
        # superpixels are coarser than thin errors: each click's own part at pixel level
        clipped = set()     # (superpixel, positive) of the clicks bounded by their depth
        for pt, positive, part, node, beyond in seeds:
            part = part & (final if positive else ~final)
            if part.any():
                self._refine_part(out, base, pt, positive, part)
                if beyond is not None:
                    self._clip_to_depth(out, base, pt, positive, part, beyond)
                    clipped.add((node, positive))
        for (x, y), positive in pixel_clicks:
            out[_around(x, y)] = positive
        if (out ^ base).any():
            self._snap(out, base, placed, clipped)
        return out

    def _whole_parts(self, base: np.ndarray, m0: np.ndarray, clicks: np.ndarray,
                     nodes: list[int], refused: set[int]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The start of a full-body region that the parse does not have, with the parts
        that positive clicks take whole.

        A full-body garment covers an upper and a lower part, so when the parse has none
        and a positive click for it lands on a part the parse calls upper or lower body,
        the parse has split the garment in two (a dress as a top and a skirt): that
        connected part comes whole, at full size exactly as the parse drew it (its outline
        was already moved onto the photo's edges, so it is not redrawn), whatever the order
        of the clicks. A part whose click's superpixel (``nodes``, one per click) was also
        clicked negatively (``refused``) keeps its state, as any superpixel clicked both
        ways. Returns the full-size ``base`` and working ``m0`` masks with those parts
        added, and which clicks took one, ``(len(clicks),) bool`` (such a click grows its
        part no further: its superpixel may straddle the parse's seam).
        """
        h, w = self._sp.shape
        took = np.zeros(len(clicks), bool)
        for k, (pt, node) in enumerate(zip(clicks, nodes, strict=True)):
            x, y = int(pt[0]), int(pt[1])
            label = int(self.labels[y, x])
            if base[y, x]:
                took[k] = True    # in a part an earlier click took
                continue
            if label not in (1, 2) or node in refused:
                continue
            if label not in self._label_parts:
                self._label_parts[label] = cv2.connectedComponents(
                    (self.labels == label).astype(np.uint8), connectivity=8)[1]
            parts = self._label_parts[label]
            whole = parts == parts[y, x]
            # its superpixels: those it covers for the most part (labels resize nearest)
            small = (whole if (h, w) == self.shape else cv2.resize(
                whole.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST))
            share = np.bincount(self._sp.ravel(), small.ravel().astype(np.float64),
                                self._n) / self._area
            base, m0 = base | whole, m0 | (share > 0.5)
            took[k] = True
        return base, m0, took

    def _beyond_depth(self, change: np.ndarray, side: np.ndarray,
                      pt: np.ndarray) -> np.ndarray | None:
        """Where ``change`` (superpixels) may not reach, when it is more than
        ``_DEPTH_RATIO`` times as thick as the click at ``pt`` is deep in ``side`` (the part
        it is on: outside the mask for a positive click, inside for a negative one), both
        at the working size: the ``(h, w) bool`` working pixels of ``side`` farther than
        that from its edge. None when the change is within the bound.

        A click goes in the middle of what is wrong, so its distance from the mask's edge
        says how thick the error is; a change far thicker is not what it asks. Thickness is
        the largest distance from a changed pixel to the unchanged ones.
        """
        clicked = side[self._sp].astype(np.uint8)
        if clicked.all():
            return None         # no edge to measure from (a garment built from nothing)
        distance = cv2.distanceTransform(clicked, cv2.DIST_L2, 5)
        limit = _DEPTH_RATIO * max(float(distance[self._working_pixel(pt)]), 1.0)
        thickness = float(cv2.distanceTransform(
            change[self._sp].astype(np.uint8), cv2.DIST_L2, 5).max())
        return distance > limit if thickness > limit else None

    def _clip_to_depth(self, out: np.ndarray, base: np.ndarray, pt: np.ndarray,
                       positive: bool, part: np.ndarray, beyond: np.ndarray) -> None:
        """Undo, in place, the change of a click's own part (superpixels ``part``) where it
        reaches ``beyond`` the click's depth bound (working pixels, from
        :meth:`_beyond_depth`): the own part, often a few superpixels across, may itself be
        thicker than the click asks (a click on the one-pixel strip between a jean's edge
        and the white wall beside it)."""
        y0, y1, x0, x1, support = self._full_window(part, 1)
        sx, sy = self._scale_xy
        rows = np.minimum((np.arange(y0, y1) * sy).astype(int), beyond.shape[0] - 1)
        cols = np.minimum((np.arange(x0, x1) * sx).astype(int), beyond.shape[1] - 1)
        crop_out, crop_base = out[y0:y1, x0:x1], base[y0:y1, x0:x1]
        undo = support & beyond[rows][:, cols] & (crop_out != crop_base)
        crop_out[undo] = crop_base[undo]
        out[_around(*pt)] = positive          # the clicked pixels stay as the click asks

    def _full_window(self, part: np.ndarray, margin: int, around: np.ndarray | None = None
                     ) -> tuple[int, int, int, int, np.ndarray]:
        """Full-size window ``(y0, y1, x0, x1)`` around the superpixels in ``part`` widened
        by ``margin`` pixels (and holding the 3 x 3 pixels ``around`` a click, if given),
        and the part's pixels in it (``(y1 - y0, x1 - x0) bool``). The window's far edges
        round down: a margin of 1 or more holds the whole part."""
        height, width = self.shape
        sx, sy = self._scale_xy
        sp = self._sp
        ys, xs = np.nonzero(part[sp])
        x0 = max(0, int(xs.min() / sx) - margin)
        x1 = min(width, int((xs.max() + 1) / sx) + margin)
        y0 = max(0, int(ys.min() / sy) - margin)
        y1 = min(height, int((ys.max() + 1) / sy) + margin)
        if around is not None:
            x, y = int(around[0]), int(around[1])
            x0, x1 = min(x0, max(0, x - 1)), max(x1, min(width, x + 2))
            y0, y1 = min(y0, max(0, y - 1)), max(y1, min(height, y + 2))
        rows = np.minimum((np.arange(y0, y1) * sy).astype(int), sp.shape[0] - 1)
        cols = np.minimum((np.arange(x0, x1) * sx).astype(int), sp.shape[1] - 1)
        return y0, y1, x0, x1, part[sp[rows][:, cols]]

    def _snap(self, out: np.ndarray, base: np.ndarray,
              clicks: list[tuple[np.ndarray, bool, int | None]],
              clipped: set[tuple[int, bool]]) -> None:
        """Move the boundary of what the clicks changed onto the photo's edges, in place.

        A changed part's boundary is made of superpixel boundaries at the working size,
        which may miss an edge by up to a superpixel: within ``_SNAP_BAND`` superpixel
        sides of it, and near the change only, :func:`snap_to_edges` (GrabCut) redraws
        it where the colours on the two sides differ; the clicked pixels stay as asked.
        ``clicks`` holds ``(point, positive, its superpixel or None on a sliver)`` for
        every click.
        """
        height, width = self.shape
        r = max(2, round(_SNAP_BAND * self._side / min(self._scale_xy)))
        wide = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (4 * r + 1, 4 * r + 1))
        near = cv2.dilate((out ^ base).astype(np.uint8), wide) > 0
        # positive clicks only add, negative clicks only remove
        if not any(not positive for _, positive, _ in clicks):
            near &= ~base
        if not any(positive for _, positive, _ in clicks):
            near &= base
        fixed = {True: np.zeros(self.shape, bool), False: np.zeros(self.shape, bool)}
        for pt, positive, node in clicks:
            m = fixed[positive]
            m[_around(*pt)] = True
            if node is not None:
                # the clicked superpixel is what the click means: it stays as asked (a
                # small part inside the band is not re-decided away)
                clicked = np.zeros(self._n, bool)
                clicked[node] = True
                y0, y1, x0, x1, support = self._full_window(clicked, 1)
                if (node, positive) in clipped:
                    # bounded by its depth: only what stayed of it is held
                    support = support & (out[y0:y1, x0:x1] == positive)
                m[y0:y1, x0:x1] |= support
        out[...] = snap_to_edges(self._image, out, r, where=near, fixed_in=fixed[True],
                                 fixed_out=fixed[False], margin=_SNAP_MARGIN,
                                 refit_pixels=_REFIT_PIXELS)

    def _refine_part(self, out: np.ndarray, base: np.ndarray, pt: np.ndarray,
                     positive: bool, part: np.ndarray) -> None:
        """Pixel-accurate GrabCut (Rother et al. 2004, OpenCV) of one click's own part, in place.

        The clicked superpixel and its like neighbours often straddle a thin error (a
        waistband, the strip between sleeve and background): in a crop around them, the
        side the click asks for (the garment for a positive click, the outside for a
        negative one) and the clicked pixel are sure foreground, the rest of the crop sure
        background, the part itself probable foreground; its pixels that end as background
        return to ``base``.
        """
        # the window holds the click too: its own superpixel may have left the part
        y0, y1, x0, x1, support = self._full_window(part, _PART_MARGIN, around=pt)
        crop_out = out[y0:y1, x0:x1]
        crop_base = base[y0:y1, x0:x1]
        # 'fg' of the grabCut = the side the click asks for
        side = crop_out if positive else ~crop_out
        gc = np.where(side & ~support, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
        gc[support] = cv2.GC_PR_FGD
        cx, cy = int(pt[0]) - x0, int(pt[1]) - y0
        gc[_around(cx, cy)] = cv2.GC_FGD
        if not ((gc == cv2.GC_BGD).any() and (gc == cv2.GC_FGD).any()):
            return
        bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
        img = np.ascontiguousarray(self._image[y0:y1, x0:x1])
        # its GMMs start from k-means on OpenCV's (thread's) global RNG: without a fixed
        # seed the same clicks gave another mask after any earlier call
        cv2.setRNGSeed(0)
        cv2.grabCut(img, gc, None, bgd, fgd, 1, cv2.GC_INIT_WITH_MASK)  # one refit
        revert = support & ((gc == cv2.GC_BGD) | (gc == cv2.GC_PR_BGD))
        # confidence: only pixels clearly nearer in colour to the other side than to the
        # click go back (a part of one colour with its surroundings stays whole)
        lab = cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(np.float32)
        click = np.median(lab[_around(cx, cy)].reshape(-1, 3), 0)
        other = gc == cv2.GC_BGD
        if other.any():
            far = (np.linalg.norm(lab - click, axis=2)
                   - np.linalg.norm(lab - lab[other].mean(0), axis=2)) > _PART_DELTA_E
            revert &= far
        if positive:
            crop_out[revert & ~crop_base] = False
        else:
            crop_out[revert & crop_base] = True

    def _affinity_cost(self, idx: np.ndarray, node: int) -> np.ndarray:
        colour = np.linalg.norm(self._mean[idx] - self._mean[node], axis=1) / 10.0
        space = np.linalg.norm(self._centre[idx] - self._centre[node], axis=1) / (0.1 * self._diag)
        return colour + space

    def _to_full(self, base: np.ndarray, final: np.ndarray, added: np.ndarray,
                 removed: np.ndarray) -> np.ndarray:
        height, width = self.shape
        out = base.copy()
        if not (added.any() or removed.any()):
            return out
        sp = self._sp
        soft = final[sp].astype(np.float32)

        def up(m: np.ndarray) -> np.ndarray:
            if m.shape == (height, width):
                return m
            return cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)

        level = up(soft)
        if added.any():
            support = up(added[sp].astype(np.float32)) > 0
            out |= support & (level > 0.5)
        if removed.any():
            support = up(removed[sp].astype(np.float32)) > 0
            out &= ~(support & (level < 0.5))
        return out
