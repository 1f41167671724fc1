"""Batches for training: a DataLoader with seeded per-epoch shuffling, batch transforms and a
background thread that prepares the next batch while the current step runs; `random_split`.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from minitorch_cv.backend import cupy_module, to_device
from minitorch_cv.backend import device as parse_device
from minitorch_cv.tensor import Tensor, default_rng

from .dataset import Subset, TensorDataset, is_batched
from .sampler import Sampler
from .transforms_pil import is_pil_image

_END = object()


class _Raised:
    """An exception from the producer thread, carried to the consumer to be raised there."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    # A bounded put that gives up when the consumer has gone away (stop set).
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            pass
    return False


def _produce(source: Iterator, q: queue.Queue, stop: threading.Event) -> None:
    # Runs in the prefetch thread. It holds no reference to the consumer's iterator object, so
    # dropping that object runs its __del__, which sets `stop` and ends this loop.
    try:
        for item in source:
            if not _put(q, item, stop):
                return
        _put(q, _END, stop)
    except BaseException as e:  # handed to the consumer, which re-raises it
        _put(q, _Raised(e), stop)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


class PrefetchIterator:
    """Iterate `source` in a background thread, keeping up to `depth` items ready.

    An exception raised while producing an item is re-raised by `__next__` in the consumer.
    The thread stops when the source is exhausted, when `close()` is called, or when this
    iterator is garbage-collected (e.g. after a `break` out of the loop).
    """

    def __init__(self, source: Iterator, depth: int = 1):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce,
            args=(source, self._q, self._stop),
            name="minitorch_cv-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        while True:
            try:
                item = self._q.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._q.empty():
                    self.close()
                    raise RuntimeError(
                        "DataLoader: the prefetch thread ended without a batch or an error"
                    ) from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, _Raised):
            self.close()
            raise item.exc
        return item

    def close(self) -> None:
        """Stop the producer thread and wait for it (it finishes the batch it is building)."""
        self._done = True
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def __del__(self):
        if hasattr(self, "_thread"):  # __init__ may have failed before starting the thread
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _CudaBatchMover:
    """Copies host batches to a GPU off the training stream, for the DataLoader's producer.

    Each array goes through page-locked ("pinned") host memory, from which the copy engine reads
    while the GPU computes, on a stream of its own. Two events keep that safe without any
    host-side wait in the training loop:

    * the copy waits for the training (consumer) stream as it was when the destination was
      allocated. The destination comes from the consumer stream's CuPy memory pool, whose blocks
      may still be read by kernels queued before they were freed (CuPy has no record_stream);
    * the consumer stream waits for the copy before anything queued after it (the transforms,
      which run on the consumer stream, and the training step) reads the batch.

    A pinned buffer is refilled only after its previous copy is done (that wait happens here, in
    the producer thread).
    """

    _PER_THREAD_DEFAULT_STREAM = 2  # cudaStreamPerThread: means another stream in each thread

    def __init__(self, dev, consumer):
        cp = cupy_module()
        self.cp, self.index, self.consumer = cp, dev.index, consumer
        with cp.cuda.Device(dev.index):
            self.stream = cp.cuda.Stream(non_blocking=True)
        self._pinned = {}  # slot -> (page-locked uint8 buffer, event of its last copy)

    @classmethod
    def create(cls, dev):
        """A mover for the calling thread's current stream (the training stream), or None when
        that stream cannot be named from the producer thread (CuPy's per-thread default stream):
        batches are then copied by to_device."""
        cp = cupy_module()
        with cp.cuda.Device(dev.index):
            consumer = cp.cuda.get_current_stream()
        if consumer.ptr == cls._PER_THREAD_DEFAULT_STREAM:
            return None
        return cls(dev, consumer)

    def _stage(self, slot, a):
        """A page-locked copy of host array `a`, in the slot's buffer (grown when too small)."""
        buf, done = self._pinned.get(slot, (None, None))
        if done is not None:
            done.synchronize()  # its previous copy has been read by the GPU
        if buf is None or buf.nbytes < a.nbytes:
            n = max(a.nbytes, 1)
            buf = np.frombuffer(self.cp.cuda.alloc_pinned_memory(n), np.uint8, n)
        host = buf[: a.nbytes].view(a.dtype).reshape(a.shape)
        np.copyto(host, a)
        return buf, host

    def __call__(self, *arrays):
        """Device copies of host `arrays`, ordered before later work on the consumer stream."""
        cp = self.cp
        with cp.cuda.Device(self.index):
            with self.consumer:
                outs = [cp.empty(a.shape, a.dtype) for a in arrays]
            self.stream.wait_event(self.consumer.record())
            staged = [self._stage(slot, a) for slot, a in enumerate(arrays)]
            for out, (_, host) in zip(outs, staged):
                out.set(host, stream=self.stream)
            done = self.stream.record()
            self.consumer.wait_event(done)
        for slot, (buf, _) in enumerate(staged):
            self._pinned[slot] = (buf, done)
        return outs

    @contextlib.contextmanager
    def context(self):
        """Run the work that follows the copy (the transforms) on the consumer stream."""
        with self.cp.cuda.Device(self.index), self.consumer:
            yield


def _takes_rng(fn) -> bool:
    """Whether `fn` accepts an `rng=` keyword (the package's transforms do; a plain lambda not)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: call them plainly
        return False
    return any(p.name == "rng" or p.kind is p.VAR_KEYWORD for p in params)


def _fresh_seed() -> int:
    # Drawn from the package generator, so `minitorch_cv.manual_seed` makes runs repeatable.
    return int(default_rng().integers(2**63 - 1))


class DataLoader:
    """Iterate a dataset in batches of Tensors `(x, y)`.

    Args:
        dataset: an ArrayDataset, TensorDataset, Subset or a ConcatDataset of them (batches are
            one fancy-index per part), or any object (a `Dataset` subclass) with `__len__` and
            `__getitem__(int) -> (image, target)` (items are stacked).
        batch_size: items per batch (default 1).
        shuffle: visit items in a new random order each epoch (default False).
        drop_last: drop the last, smaller batch (default False).
        seed: seed of the shuffling and of the transforms' randomness. Epoch e uses the streams
            `default_rng([seed, e, 0])` (order) and `default_rng([seed, e, 1])` (augmentation), so
            `set_epoch(e)` reproduces epoch e exactly, e.g. on resume. Default: drawn from the
            package generator (`minitorch_cv.manual_seed` makes it repeatable).
        transform: applied to each batch: `transform(x, rng=...)` for classification, and
            `transform(x, mask, rng=...) -> (x, mask)` when targets are (N, H, W) masks (the
            `rng=` keyword is passed only to callables that accept it).
        sampler: which items each epoch visits and in which order (`data.WeightedRandomSampler`,
            `RandomSampler`, `SubsetRandomSampler`, or any iterable of indices with a length);
            instead of shuffle. The package's samplers draw from the loader's per-epoch stream.
        mix: a `transforms.MixUp` or `transforms.CutMix`, or a list of them (one picked at
            random per batch, torchvision's RandomChoice([cutmix, mixup]) idiom), applied to
            (images, labels) after `transform`: the batches then carry soft labels (B, K),
            which `cross_entropy`, Accuracy and TopKAccuracy take. Classification only.
        collate_fn: builds a batch from the list of a batch's items, for datasets whose items
            are not (image, target) pairs (a dict, a triple): the loader yields its return value
            as it is; with it, transform and device are not used (do them in collate_fn).
        prefetch: build the next batch in a background thread while the caller works on the
            current one (default True).
        device: 'cpu', 'cuda', 'cuda:N' or None (= where the dataset's arrays are). Transforms
            run after the transfer, so on the GPU they run there. A host batch reaches the GPU
            through pinned memory on a CUDA stream of its own, overlapping the training step
            (see _CudaBatchMover); iterate the loader in the thread that trains.

    Yields:
        x: Tensor (B, C, H, W) float32; y: Tensor (B,) or (B, H, W) int64 (integer labels of
        any width become int64; float targets keep their dtype, as torch's default collate).

    Each `iter(loader)` is one epoch and advances `loader.epoch` by one.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        transform: Callable | None = None,
        prefetch: bool = True,
        device=None,
        collate_fn: Callable | None = None,
        mix=None,
        sampler=None,
    ):
        if (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if sampler is not None and not hasattr(sampler, "__len__"):
            raise TypeError(
                f"DataLoader: sampler must have a length (items per epoch), got "
                f"{type(sampler).__name__}"
            )
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = _fresh_seed() if seed is None else int(seed)
        self.transform = transform
        self._transform_takes_rng = transform is not None and _takes_rng(transform)
        self.mix = [] if mix is None else list(mix) if isinstance(mix, (list, tuple)) else [mix]
        for m in self.mix:
            if not getattr(m, "mixes_labels", False):
                raise TypeError(
                    f"DataLoader: mix takes MixUp / CutMix objects (or a list of them, one "
                    f"picked per batch), got {type(m).__name__}"
                )
        self.prefetch = bool(prefetch)
        self.device = None if device is None else parse_device(device)
        if collate_fn is not None and (transform is not None or device is not None or self.mix):
            raise ValueError(
                "DataLoader: with collate_fn, apply the transform and the device move in it "
                "(the loader yields what collate_fn returns)"
            )
        self.collate_fn = collate_fn
        if isinstance(dataset, TensorDataset) and len(dataset.tensors) != 2 and not collate_fn:
            raise ValueError(
                f"DataLoader: {dataset!r} yields {len(dataset.tensors)}-tuples, not (input, "
                "target) pairs; pass collate_fn= to batch them"
            )
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch `epoch` (its order and augmentation draws)."""
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The item order of `epoch` (default: the next one), an int64 array."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.dataset)
        if self.sampler is not None:
            if isinstance(self.sampler, Sampler):  # the package's samplers: the epoch's stream
                order = self.sampler.draw(np.random.default_rng([self.seed, epoch, 0]))
            else:  # any iterable of indices, as PyTorch's loader takes
                order = np.fromiter(iter(self.sampler), dtype=np.int64)
            order = np.asarray(order, dtype=np.int64)
            bad = order[(order < 0) | (order >= n)]
            if bad.size:
                raise IndexError(
                    f"DataLoader: the sampler gave index {int(bad[0])} for a dataset of {n} items"
                )
            return order
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        return np.random.default_rng([self.seed, epoch, 0]).permutation(n)

    def _fetch(self, idx: np.ndarray):
        if is_batched(self.dataset):
            batch = self.dataset[idx]
            if len(batch) != 2:  # e.g. a ConcatDataset of 3-tensor TensorDatasets
                raise ValueError(
                    f"DataLoader: {self.dataset!r} yields {len(batch)}-tuples, not (input, "
                    "target) pairs; pass collate_fn= to batch them"
                )
            x, y = batch
        else:
            items = [self.dataset[int(i)] for i in idx]
            bad = next(
                (it for it in items if not (isinstance(it, (tuple, list)) and len(it) == 2)), None
            )
            if bad is not None:
                what = (
                    f"a {len(bad)}-tuple"
                    if isinstance(bad, (tuple, list))
                    else f"a {type(bad).__name__}"
                )
                raise ValueError(
                    f"DataLoader: {self.dataset!r} yields {what}, not an (image, target) pair; "
                    "pass collate_fn= to batch such items"
                )
            if any(is_pil_image(a) for a, _ in items):
                sizes = sorted({(len(a.getbands()), a.height, a.width) for a, _ in items})
                raise TypeError(
                    f"DataLoader: {self.dataset!r} yields PIL images (C, H, W: {sizes}); end "
                    "its transform with T.ToTensor() (after T.Resize / T.CenterCrop to one "
                    "size) to batch them as arrays"
                )
            images = [np.asarray(a) for a, _ in items]
            if len({a.shape for a in images}) > 1:
                x = images  # refused below, as a list of differently sized images
            else:
                x = np.stack(images)
            y = np.stack([np.asarray(b) for _, b in items])
        if isinstance(x, list):
            sizes = sorted({tuple(a.shape) for a in x})
            raise ValueError(
                f"DataLoader: {self.dataset!r} holds images of different sizes ({sizes}); "
                "resize them to one size to batch them: T.Resize((224, 224)) or T.Resize(256) "
                "then T.CenterCrop(224) in the dataset's transform, or size=224 where the "
                "dataset takes one"
            )
        return x, y

    def _batches(self, epoch: int, mover=None) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.order(epoch)
        aug_rng = np.random.default_rng([self.seed, epoch, 1])
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            if self.collate_fn is not None:
                idx = order[start : start + self.batch_size]
                yield self.collate_fn([self.dataset[int(i)] for i in idx])
                continue
            x, y = self._fetch(order[start : start + self.batch_size])
            if y.dtype.kind in "biu" and y.dtype != np.int64:  # labels: the loss wants int64
                y = y.astype(np.int64)  # (float targets, regression or soft labels, stay float)
            where = contextlib.nullcontext()
            if mover is not None and isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
                x, y = mover(x, y)
                where = mover.context()
            elif self.device is not None:
                x, y = to_device(x, self.device), to_device(y, self.device)
            if self.transform is not None:
                kw = {"rng": aug_rng} if self._transform_takes_rng else {}
                with where:
                    if y.ndim == 3:
                        x, y = self.transform(x, y, **kw)
                    else:
                        x = self.transform(x, **kw)
            if self.mix:
                with where:  # one of the mixers per batch, then (images, soft labels)
                    mixer = self.mix[int(aug_rng.integers(len(self.mix)))]
                    x, y = mixer(x, y, rng=aug_rng)
            yield Tensor(x), Tensor(y)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        cuda = self.device is not None and self.device.type == "cuda"
        batches = self._batches(epoch, _CudaBatchMover.create(self.device) if cuda else None)
        return PrefetchIterator(batches) if self.prefetch else batches

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, "
            f"epoch={self.epoch})"
        )


def random_split(dataset, lengths: Sequence[float | int], seed: int | None = None) -> list[Subset]:
    """Split a dataset into non-overlapping random Subsets.

    Args:
        dataset: the dataset to split.
        lengths: sizes that sum to len(dataset), or fractions that sum to 1 (e.g. (0.8, 0.2));
            fractions are floored and the leftover items go one each to the first splits, as in
            PyTorch.
        seed: seed of the permutation (default: drawn from the package generator).

    Returns:
        one Subset per entry of `lengths`.
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if sum(counts) != n or min(counts) < 0:
            raise ValueError(
                f"random_split: lengths {counts} must be >= 0 and sum to the dataset's {n} items"
            )
    else:
        fracs = [float(v) for v in lengths]
        if min(fracs) < 0 or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
            raise ValueError(f"random_split: fractions {fracs} must be >= 0 and sum to 1")
        counts = [math.floor(n * f) for f in fracs]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    perm = np.random.default_rng(_fresh_seed() if seed is None else seed).permutation(n)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
