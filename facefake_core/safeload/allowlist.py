"""What the safe loader lets a learner pickle ask for: data only (the stand-ins are in :mod:`.standins`).

Every entry is an exact ``(module, qualname)`` pair, never a module prefix: fastcore also holds helpers that
run shell commands, and methods such as ``pathlib.Path.write_text`` are reachable as dotted names. The list
was derived by tracing what fastai 2.7.19 and 2.8.12 exports of ``vision_learner`` ask the unpickler for
(resnet18/34/50, squeezenet1_1, xresnet18, densenet121; ``from_folder``, ``from_path_func``,
``aug_transforms``, metrics, ``to_fp16``, trained and untrained; cloudpickle and pickle, protocols 2 to 5).

Each allowed global has a *kind* that limits what the pickle may do with it:

* ``CALL``: may be called while unpickling (``REDUCE``), with plain data as arguments only (numbers, text,
  containers of them, allowed globals, enum/``inspect.Parameter``/``numpy.dtype`` values): ``list(x)`` or
  ``str(x)`` must not run a rebuilt fastai object's methods.
* ``NEW``: a class the pickle may allocate (``NEWOBJ``) and then fill with state; never called.
* ``REF``: may only be referenced (type annotations, dispatch tables, ``arch``/``splitter`` attributes).
"""

from __future__ import annotations

CALL, NEW, REF = "call", "new", "ref"

Name = tuple[str, str]


def _names(kind: str, module: str, names: str) -> dict[Name, str]:
    return {(module, name): kind for name in names.split()}


ALLOWED: dict[Name, str] = {
    **_names(CALL, "builtins", "set frozenset tuple list bytes float int str bool complex slice"),
    **_names(REF, "builtins", "object print"),
    **_names(CALL, "collections", "OrderedDict"),
    **_names(CALL, "inspect", "Parameter Signature _ParameterKind"),
    **_names(REF, "inspect", "_empty"),
    **_names(REF, "typing", "Any"),
    **_names(CALL, "random", "Random"),
    **_names(CALL, "pathlib", "Path PosixPath PurePath PurePosixPath PureWindowsPath"),
    **_names(CALL, "PIL.Image", "Resampling"),
    **_names(REF, "PIL.Image", "Image"),
    **_names(CALL, "numpy", "dtype"),
    **_names(REF, "numpy", "ndarray"),
    **_names(CALL, "numpy._core.multiarray", "scalar _reconstruct"),
    **_names(CALL, "torch", "device Size"),
    **_names(REF, "torch", "Tensor float32 float16 bfloat16 float64 int64 int32 int16 int8 uint8 bool"),
    **_names(NEW, "torch.nn.modules.activation", "ReLU"),
    **_names(NEW, "torch.nn.modules.batchnorm", "BatchNorm1d BatchNorm2d"),
    **_names(NEW, "torch.nn.modules.container", "Sequential ModuleList"),
    **_names(NEW, "torch.nn.modules.conv", "Conv2d"),
    **_names(NEW, "torch.nn.modules.dropout", "Dropout"),
    **_names(NEW, "torch.nn.modules.linear", "Linear Identity"),
    **_names(NEW, "torch.nn.modules.loss", "CrossEntropyLoss BCEWithLogitsLoss"),
    **_names(NEW, "torch.nn.modules.pooling", "AdaptiveAvgPool2d AdaptiveMaxPool2d MaxPool2d AvgPool2d"),
    **_names(NEW, "torchvision.models.resnet", "BasicBlock Bottleneck"),
    **_names(REF, "torchvision.models.resnet", "resnet18 resnet34 resnet50 resnet101 resnet152"),
    **_names(NEW, "torchvision.models.squeezenet", "Fire"),
    **_names(REF, "torchvision.models.squeezenet", "squeezenet1_0 squeezenet1_1"),
    **_names(NEW, "torchvision.models.densenet", "_DenseBlock _DenseLayer _Transition"),
    **_names(REF, "torchvision.models.densenet", "densenet121"),
    **_names(REF, "fastai.vision.models.xresnet", "xresnet18 xresnet34 xresnet50"),
    **_names(NEW, "fastai.callback.core", "TrainEvalCallback"),
    **_names(NEW, "fastai.callback.progress", "ProgressCallback"),
    **_names(NEW, "fastai.callback.fp16", "MixedPrecision"),  # learn.to_fp16()
    **_names(CALL, "fastai.callback.fp16", "AMPMode"),
    **_names(NEW, "fastai.data.core", "DataLoaders Datasets TfmdDL TfmdLists"),
    **_names(REF, "fastai.data.core", "FilteredBase FilteredBase.dataloaders"),
    **_names(NEW, "fastai.data.load", "_FakeLoader"),
    **_names(REF, "fastai.data.load", "_wif"),
    **_names(NEW, "fastai.data.transforms", "Categorize CategoryMap IntToFloatTensor Normalize ToTensor"),
    **_names(REF, "fastai.data.transforms", "parent_label"),
    **_names(REF, "fastai.imports", "noop"),
    **_names(NEW, "fastai.layers", "AdaptiveConcatPool2d Flatten ConvLayer ResBlock"),
    **_names(NEW, "fastai.learner", "Learner Recorder AvgLoss AvgSmoothLoss AvgMetric CastToTensor"),
    **_names(NEW, "fastai.losses", "CrossEntropyLossFlat BCEWithLogitsLossFlat"),
    **_names(REF, "fastai.metrics", "accuracy error_rate"),
    **_names(REF, "fastai.optimizer", "Adam SGD"),
    **_names(REF, "fastai.torch_core", "TensorBase TensorImage TensorImageBW TensorCategory TensorMask"),
    **_names(NEW, "fastai.vision.augment", "Resize RandomResizedCrop Flip Dihedral Rotate Zoom Warp _WarpCoord "
             "Brightness Contrast _BrightnessLogit _ContrastLogit AffineCoordTfm LightingTfm"),
    **_names(REF, "fastai.vision.augment", "RandTransform flip_mat rotate_mat zoom_mat dihedral_mat "
             "TensorImage.lighting TensorImage.hsv"),
    **_names(REF, "fastai.vision.core", "PILBase PILImage PILImageBW PILMask TensorPoint TensorBBox"),
    **_names(REF, "fastai.vision.learner", "_resnet_split _squeezenet_split _densenet_split _xresnet_split"),
    **_names(NEW, "fastcore.foundation", "L"),
    **_names(NEW, "fastcore.basics", "fastuple"),
    **_names(NEW, "fasttransform.transform", "Transform DisplayedTransform ItemTransform InplaceTransform Pipeline"),
    **_names(NEW, "plum._function", "Function"),
    **_names(NEW, "plum._method", "Method MethodList"),
    **_names(NEW, "plum._resolver", "Resolver"),
    **_names(NEW, "plum._signature", "Signature"),
    **_names(REF, "plum._util", "Missing"),
}

#: Globals mapped onto another one with the same behaviour here: ``(module, name) -> (module, name)``.
REMAPPED: dict[Name, Name] = {
    ("pathlib", "WindowsPath"): ("pathlib", "Path"),  # a learner exported on Windows; cannot exist on Linux
    ("fastcore.transform", "Pipeline"): ("fasttransform.transform", "Pipeline"),  # fastai 2.7 -> 2.8
    ("numpy.core.multiarray", "scalar"): ("numpy._core.multiarray", "scalar"),  # numpy 1.x exports
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
}

#: ``getattr(obj, name)`` is allowed only for these (owner class, attribute) pairs, where ``obj`` is the owner,
#: an allowed subclass, or an instance of an allowed subclass. Pickles use it for bound and class methods.
GETATTR_PAIRS: frozenset[tuple[str, str]] = frozenset({
    ("fastai.data.core.FilteredBase", "dataloaders"),
    ("fastai.vision.augment.RandTransform", "before_call"),
    ("fastai.torch_core.TensorImage", "lighting"),  # fastcore @patch methods used by aug_transforms
    ("fastai.torch_core.TensorImage", "hsv"),
    ("fastai.vision.core.PILBase", "create"),
    ("fastai.vision.core.TensorPoint", "create"),
    ("fastai.vision.core.TensorBBox", "create"),
})

#: Functions cloudpickle ships *by value* (classmethods cannot be found by name) that the loader swaps for the
#: installed function of the same name instead of rebuilding them from the file's code.
BY_VALUE_SUBSTITUTES: frozenset[Name] = frozenset({
    ("fastai.vision.core", "PILBase.create"),
    ("fastai.vision.core", "TensorPoint.create"),
    ("fastai.vision.core", "TensorBBox.create"),
})

#: Globals that exports only reference from the globals of a by-value function; they get inert stand-ins.
INERT_REFERENCES: frozenset[Name] = frozenset({
    ("fastai.vision.core", "load_image"),
    ("fastcore.basics", "merge"),
})

CLOUDPICKLE_MODULES = ("cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast")

FASTAI27_TRANSFORMS = {
    name: ("fasttransform.transform", name)
    for name in ("Transform", "DisplayedTransform", "ItemTransform", "InplaceTransform")
}
