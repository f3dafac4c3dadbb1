"""The network under the model: what it is (architecture, CAM layers), where it can be cut, and how it runs fast
(device, memory format, folded BatchNorms, batch size). Nothing here knows about images or classes.

Layers are named by their path in ``net.named_modules()`` (``"0.0.norm5"``), except a ResNet body's four stages,
``layer1``..``layer4``. The candidates are read from the structure: the network is walked along its *chains*
(``nn.Sequential`` containers that run their children in order), from fastai's body (``Sequential(body, head)``;
for a plain ``Learner(dls, xresnet50())``, the children before fastai's own cut, the last one holding a pooling
layer) down through single-child wrappers (torchvision's ``features``, fastai's ``TimmBody``). At the first level
with several children, each child holding a convolution is a candidate, together with the parameter-free and
BatchNorm layers that follow it (so a cut never separates a convolution from its BatchNorm); in a module that is
not a chain (a timm model) only whole children are candidates. The last candidate is the default CAM layer.
"""

from __future__ import annotations

import copy
import logging
import os

import torch
from torch import nn

_log = logging.getLogger(__name__)

_RESNET_DEPTHS = {
    ("BasicBlock", (2, 2, 2, 2)): "resnet18",
    ("BasicBlock", (3, 4, 6, 3)): "resnet34",
    ("Bottleneck", (3, 4, 6, 3)): "resnet50",
    ("Bottleneck", (3, 4, 23, 3)): "resnet101",
    ("Bottleneck", (3, 8, 36, 3)): "resnet152",
}


def is_chain(module: nn.Module) -> bool:
    """Whether ``module`` runs its children one after another (an ``nn.Sequential`` keeping Sequential's forward)."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _has_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def _body(net: nn.Module) -> tuple[nn.Module, str, int | None]:
    """(container, its path, how many of its children form the body) for a fastai vision network."""
    from fastai.vision.learner import has_pool_type

    if is_chain(net) and len(net) == 2 and isinstance(net[0], nn.Module) and _has_conv(net[0]) and not _has_conv(net[1]):
        return net[0], "0", None  # fastai's Sequential(body, head)
    if is_chain(net):  # Learner(dls, xresnet50()): cut where fastai's create_body would
        kids = list(net.children())
        return net, "", next((i for i in reversed(range(len(kids))) if has_pool_type(kids[i])), len(kids))
    return net, "", None


def _plain(module: nn.Module) -> bool:
    """No parameters but BatchNorms' (activations, pooling, dropout, BatchNorm, Identity)."""
    return all(isinstance(m, nn.modules.batchnorm._BatchNorm) or next(m.parameters(recurse=False), None) is None
               for m in module.modules())


def _candidates(net: nn.Module) -> list[str]:
    """Paths of the CAM-able layers, in order (see the module docstring)."""
    module, path, limit = _body(net)
    join = lambda p, n: f"{p}.{n}" if p else n
    kids = list(module.named_children())[:limit]
    while len(kids) == 1 and next(kids[0][1].children(), None) is not None:  # a wrapper: features, TimmBody
        (name, module), path = kids[0], join(path, kids[0][0])
        kids = list(module.named_children())
    if not is_chain(module):
        return [join(path, n) for n, m in kids if _has_conv(m)]
    found: list[str] = []
    for name, m in kids:
        if _has_conv(m):
            found.append(join(path, name))
        elif found and _plain(m):
            found[-1] = join(path, name)  # a BatchNorm, activation or pooling after a convolution joins its block
        elif found:
            break
    return found


def layer_names(net: nn.Module) -> dict[str, str]:
    """CAM-able layers: name -> module path. ``layer1``..``layer4`` for ResNet bodies, else the module paths."""
    paths = _candidates(net)
    body = net[0] if is_chain(net) and len(net) == 2 else None
    if is_chain(body) and len(body) == 8 and all(is_chain(m) for m in body[4:]) and paths[-4:] == [
            f"0.{i}" for i in range(4, 8)]:
        return {f"layer{i - 3}": f"0.{i}" for i in range(4, 8)}
    return {p: p for p in paths}


_XRESNET_DEPTHS = {(1, (2, 2, 2, 2)): "xresnet18", (1, (3, 4, 6, 3)): "xresnet34", (4, (3, 4, 6, 3)): "xresnet50",
                   (4, (3, 4, 23, 3)): "xresnet101", (4, (3, 8, 36, 3)): "xresnet152"}


def describe_arch(net: nn.Module, arch: object = None) -> str:
    """Name a fastai vision network's architecture: ``learn.arch`` when given (a function or a timm name), else
    ``resnet50``-style names read from a ResNet body, else the class of its CAM layer's container."""
    if arch is not None:
        return str(getattr(arch, "__name__", arch))
    body = net[0] if is_chain(net) and len(net) == 2 else net
    blocks = [m for m in body.children() if isinstance(m, nn.Sequential) and len(m) and type(m[0]).__name__ in
              ("BasicBlock", "Bottleneck")]
    if len(blocks) == 4:
        key = (type(blocks[0][0]).__name__, tuple(len(b) for b in blocks))
        if key in _RESNET_DEPTHS:
            return _RESNET_DEPTHS[key]
    stages = [m for m in body.children() if is_chain(m) and len(m) and type(m[0]).__name__ == "ResBlock"]
    if type(net).__name__ == "XResNet" and stages:
        expansion = 4 if len(stages[0][0].convpath) == 3 else 1
        return _XRESNET_DEPTHS.get((expansion, tuple(len(m) for m in stages)), "xresnet")
    last = _candidates(net)[-1].rpartition(".")[0] if _candidates(net) else ""
    return f"{type(net.get_submodule(last)).__name__}-body"


def split_at(net: nn.Module, path: str) -> tuple[nn.Module, nn.Module]:
    """``(front, back)`` with ``back(front(x)) == net(x)`` and ``front(x)`` the output of the module at ``path``.

    Along chains the cut is made by slicing them (the modules are shared, not copied); where the path passes
    through a module that is not a chain (a timm model), torch.fx traces the network with that module as a
    leaf and cuts the graph after it.

    Raises:
        ValueError: the network cannot be cut there (another value than the layer's output crosses the cut).
    """
    parts = path.split(".")
    node, chained = net, True
    for part in parts[:]:
        chained &= is_chain(node)
        node = node.get_submodule(part)
    if chained:
        front, back = _cut_chains(net, parts)
        return nn.Sequential(*front), nn.Sequential(*back)
    return _fx_split(net, path)


def _cut_chains(chain: nn.Module, parts: list[str]) -> tuple[list[nn.Module], list[nn.Module]]:
    names = [n for n, _ in chain.named_children()]
    kids = list(chain.children())
    i = names.index(parts[0])
    if len(parts) == 1:
        return kids[: i + 1], kids[i + 1 :]
    front, back = _cut_chains(kids[i], parts[1:])
    return kids[:i] + front, back + kids[i + 1 :]


def _fx_split(net: nn.Module, path: str) -> tuple[nn.Module, nn.Module]:
    from torch import fx

    class LeafAtPath(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return qualname == path or super().is_leaf_module(m, qualname)

    graph = LeafAtPath().trace(net)
    nodes = list(graph.nodes)
    cut = next(i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == path)
    front, back = fx.Graph(), fx.Graph()
    env: dict = {}
    for n in nodes[: cut + 1]:
        env[n] = front.node_copy(n, lambda a: env[a])
    front.output(env[nodes[cut]])
    benv = {nodes[cut]: back.placeholder("acts")}

    def arg(a: fx.Node) -> fx.Node:
        if a not in benv:
            if a.op != "get_attr":  # a value computed before the cut other than the layer's output
                raise ValueError(f"the network cannot be cut at {path}: {a.name} crosses the cut")
            benv[a] = back.node_copy(a, arg)
        return benv[a]

    for n in nodes[cut + 1 :]:
        benv[n] = back.node_copy(n, arg)
    return fx.GraphModule(net, front), fx.GraphModule(net, back)


def pick_device(override: str | None = None) -> torch.device:
    """CUDA, then Apple's MPS, then the CPU, unless ``override`` (or ``FACEFAKE_DEVICE``) names one."""
    name = override or os.environ.get("FACEFAKE_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def memory_format(device: torch.device) -> torch.memory_format:
    """``channels_last`` on the CPU, where it measured 13-26% faster on this project's 2-core machine for ResNet50 at
    256 px, batch 1 to 8, with probabilities within 2e-7 (``benchmarks/ceiling.py``); the default layout elsewhere,
    where it was not measured."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """A copy of ``net`` with each BatchNorm folded into the convolution that feeds it.

    In eval mode a BatchNorm is a fixed per-channel scale and shift, which the convolution's weights and bias
    absorb. In a chain (``nn.Sequential``) a convolution directly followed by a BatchNorm is folded in place (the
    BatchNorm becomes ``nn.Identity``); any other block (a ResNet ``Bottleneck``, a ``_DenseLayer``) is rewritten
    by torch.fx's ``fuse``, unless a CAM layer lies inside it (then its children are folded the same way). Outputs
    agree to float rounding (ResNet50: probabilities within 1e-9 of the unfolded network, layer4 activations within
    4e-6 relative, measured), and the forward pass measured 5-12% faster at batch 1-2 on the project's 2-core CPU
    (``benchmarks/ceiling.py``). Every CAM layer keeps its path, and no cut at a CAM layer separates a folded pair,
    so CAMs are unchanged; a block torch.fx cannot trace is kept as it is.
    """
    from torch.fx.experimental.optimization import fuse
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    keep = set()
    for path in layer_names(net).values():
        parts = path.split(".")
        keep |= {".".join(parts[:i]) for i in range(len(parts) + 1)}
    net = copy.deepcopy(net).eval()

    def fold(module: nn.Module, path: str) -> None:
        kids = list(module.named_children())
        for i, (name, m) in enumerate(kids):
            child = f"{path}.{name}" if path else name
            after = kids[i + 1][1] if i + 1 < len(kids) else None
            if is_chain(module) and isinstance(m, nn.Conv2d) and isinstance(after, nn.BatchNorm2d):
                setattr(module, name, fuse_conv_bn_eval(m, after))
                setattr(module, kids[i + 1][0], nn.Identity())
                kids[i + 1] = (kids[i + 1][0], nn.Identity())
            elif next(m.children(), None) is None:
                continue
            elif is_chain(m) or child in keep:
                fold(m, child)
            else:
                try:
                    setattr(module, name, fuse(m, inplace=True))
                except Exception as err:  # noqa: BLE001 - any tracing failure leaves the block unfolded
                    _log.info("%s (%s) left unfolded: %s", child, type(m).__name__, err)
                    fold(m, child)

    fold(net, "")
    return net


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass when evaluating: 4 on the CPU (ResNet50's throughput falls at larger batches there,
    measured by ``benchmarks/ceiling.py``), 64 on CUDA (the low end of the 64-256 a GPU is usually fed; not
    measured here, as no GPU was lent), 32 on another accelerator (Apple's MPS)."""
    return 4 if device.type == "cpu" else 64 if device.type == "cuda" else 32
