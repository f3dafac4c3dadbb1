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

Classes need not be listed one by one: a class that the trusted packages define and that subclasses one of
``TRUSTED_BASES`` (or lives in one of ``TRUSTED_CLASS_MODULES``) is ``NEW`` by rule, provided every hook that
unpickling or garbage collection can run on it (``ADMISSION_HOOKS``) is Python's default or one of
``VETTED_HOOKS`` (:mod:`.admission`). Calls (``REDUCE``) and functions stay on the exact lists.
"""

from __future__ import annotations

CALL, NEW, REF = "call", "new", "ref"

Name = tuple[str, str]


def _names(kind: str, module: str, names: str) -> dict[Name, str]:
    return {(module, name): kind for name in names.split()}


ALLOWED: dict[Name, str] = {
    **_names(CALL, "builtins", "set frozenset tuple list bytes float int str bool complex slice"),
    **_names(REF, "builtins", "object print"),
    # re.compile's pickle form (RegexLabeller, from_name_re): compiling a pattern from plain text runs nothing else.
    **_names(CALL, "re", "_compile"),
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
    # Architecture functions, kept as ``learn.arch`` (vision_learner's model families); referenced, never called.
    **_names(REF, "torchvision.models.resnet", "resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d "
             "resnext101_32x8d resnext101_64x4d wide_resnet50_2 wide_resnet101_2"),
    **_names(REF, "torchvision.models.squeezenet", "squeezenet1_0 squeezenet1_1"),
    **_names(REF, "torchvision.models.densenet", "densenet121 densenet161 densenet169 densenet201"),
    **_names(REF, "torchvision.models.vgg", "vgg11 vgg11_bn vgg13 vgg13_bn vgg16 vgg16_bn vgg19 vgg19_bn"),
    **_names(REF, "torchvision.models.alexnet", "alexnet"),
    **_names(REF, "torchvision.models.mobilenetv2", "mobilenet_v2"),
    **_names(REF, "torchvision.models.mobilenetv3", "mobilenet_v3_large mobilenet_v3_small"),
    **_names(REF, "torchvision.models.efficientnet", "efficientnet_b0 efficientnet_b1 efficientnet_b2 "
             "efficientnet_b3 efficientnet_b4 efficientnet_b5 efficientnet_b6 efficientnet_b7 efficientnet_v2_s "
             "efficientnet_v2_m efficientnet_v2_l"),
    **_names(REF, "torchvision.models.convnext", "convnext_tiny convnext_small convnext_base convnext_large"),
    **_names(REF, "fastai.vision.models.xresnet", "xresnet18 xresnet34 xresnet50 xresnet101 xresnet152 "
             "xresnet18_deep xresnet34_deep xresnet50_deep xresnet18_deeper xresnet34_deeper xresnet50_deeper "
             "xresnext18 xresnext34 xresnext50 xresnext101"),
    # Splitters (``learn.splitter``) and the metric functions fastai wraps in AvgMetric / AccumMetric.
    **_names(REF, "fastai.vision.learner", "default_split _resnet_split _squeezenet_split _densenet_split "
             "_xresnet_split _vgg_split _alexnet_split"),
    **_names(REF, "fastai.torch_core", "trainable_params"),
    **_names(REF, "fastai.metrics", "accuracy error_rate top_k_accuracy accuracy_multi mse mae msle "
             "foreground_acc _rmse _exp_rmspe"),
    **_names(REF, "sklearn.metrics._classification", "f1_score fbeta_score precision_score recall_score "
             "balanced_accuracy_score cohen_kappa_score matthews_corrcoef jaccard_score hamming_loss "
             "brier_score_loss"),
    **_names(REF, "sklearn.metrics._ranking", "roc_auc_score average_precision_score"),
    **_names(REF, "sklearn.metrics._regression", "explained_variance_score r2_score"),
    **_names(REF, "numpy", "less greater"),  # TrackerCallback.comp (SaveModelCallback, EarlyStoppingCallback)
    # The DataBlock API's labellers.
    **_names(REF, "fastai.data.transforms", "parent_label"),
    **_names(REF, "fastcore.basics", "_using_attr"),
    **_names(CALL, "fastai.callback.fp16", "AMPMode"),
    **_names(NEW, "fastai.data.core", "DataLoaders Datasets TfmdDL TfmdLists"),
    **_names(REF, "fastai.data.core", "FilteredBase FilteredBase.dataloaders"),
    **_names(NEW, "fastai.data.load", "_FakeLoader"),
    **_names(REF, "fastai.data.load", "_wif"),
    **_names(NEW, "fastai.data.transforms", "CategoryMap"),  # its __hash__ reads only its items
    **_names(REF, "fastai.imports", "noop"),
    **_names(NEW, "fastai.learner", "Learner"),
    **_names(REF, "fastai.optimizer", "Adam SGD"),
    **_names(REF, "fastai.torch_core", "TensorBase TensorImage TensorImageBW TensorCategory TensorMask"),
    **_names(REF, "fastai.vision.augment", "flip_mat rotate_mat zoom_mat dihedral_mat "
             "TensorImage.lighting TensorImage.hsv"),
    **_names(REF, "fastai.vision.core", "PILBase PILImage PILImageBW PILMask TensorPoint TensorBBox"),
    **_names(NEW, "fastcore.foundation", "L"),
    **_names(NEW, "fastcore.basics", "fastuple"),
    **_names(NEW, "fasttransform.transform", "Pipeline"),
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
#: Methods of a compiled ``re.Pattern`` (made by ``re._compile`` above) a pickle may take as a bound method: a
#: ``RegexLabeller`` keeps ``pattern.match``; such a method can only match text.
PATTERN_METHODS: frozenset[str] = frozenset({"match", "search", "fullmatch"})

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

#: Top-level packages whose classes the admission rule may allow (those not installed are skipped).
TRUSTED_PACKAGES: tuple[str, ...] = ("torch", "torchvision", "fastai", "fastcore", "fasttransform", "timm")

#: A trusted package's class that subclasses one of these may be allocated and have its state restored.
TRUSTED_BASES: tuple[Name, ...] = (
    ("torch.nn.modules.module", "Module"),  # layers, bodies, heads, losses (LabelSmoothingCrossEntropy)
    ("torch.distributions.distribution", "Distribution"),  # MixUp's and CutMix's Beta
    ("fasttransform.transform", "Transform"),  # item/batch transforms, augmentations, labellers
    ("fastai.callback.core", "Callback"),  # MixUp, SaveModelCallback, CSVLogger, ...
    ("fastai.learner", "Metric"),  # AvgMetric, AccumMetric (F1Score, RocAucBinary, ...)
    ("fastai.losses", "BaseLoss"),  # CrossEntropyLossFlat, FocalLossFlat, ...
)

#: Modules whose every class may be admitted (the helper classes augmentations and DataBlocks keep).
TRUSTED_CLASS_MODULES: frozenset[str] = frozenset({"fastai.vision.augment", "fastai.data.transforms"})

#: What unpickling (NEWOBJ, BUILD) and garbage collection may run on an admitted class's instance.
#: ``__getattr__`` runs when BUILD looks ``__setstate__`` up; ``_init_state`` is what fastcore's
#: ``Stateful.__setstate__`` calls; ``__hash__``/``__eq__`` run when the object is a dict key.
ADMISSION_HOOKS: tuple[str, ...] = ("__new__", "__setstate__", "_init_state", "__getattr__", "__getattribute__",
                                    "__setattr__", "__del__", "__hash__", "__eq__")

#: Hook implementations read and found to touch nothing but the object itself (set attributes, defaults).
#: Everything else refuses the class: DistributedDataParallel's and RemoteModule's ``__setstate__`` (reducers,
#: RPC), quantized convolutions' (packs weights with native ops), ScriptModule's and GraphModule's attribute
#: hooks, torch.compile's OptimizedModule, the ``__del__`` of hook callbacks and DynamicUnet.
VETTED_HOOKS: frozenset[str] = frozenset({
    "torch.nn.modules.module.Module.__setstate__",  # __dict__.update, then default hook tables
    "torch.nn.modules.module.Module.__getattr__",  # looks in _parameters/_buffers/_modules of __dict__
    "torch.nn.modules.module.Module.__setattr__",  # registers parameters/modules on the object
    "torch.nn.modules.conv._ConvNd.__setstate__",  # default padding_mode
    "torch.nn.modules.activation.Softmax.__setstate__",  # default dim
    "torch.nn.modules.activation.Softmin.__setstate__",
    "torch.nn.modules.activation.LogSoftmax.__setstate__",
    "torch.nn.modules.activation.MultiheadAttention.__setstate__",  # default _qkv_same_embed_dim
    "torch.nn.modules.pooling.AvgPool3d.__setstate__",  # default padding, ceil_mode
    "torch.nn.modules.upsampling.Upsample.__setstate__",  # default recompute_scale_factor
    "torch.nn.modules.transformer.TransformerEncoderLayer.__setstate__",  # default activation
    "torch.nn.modules.transformer.TransformerDecoderLayer.__setstate__",
    "fastcore.basics.Stateful.__setstate__",  # __dict__.update, then _init_state
    "fastcore.basics.Stateful._init_state",  # pass
    "fastcore.basics.GetAttr.__getattr__",  # delegates non-dunder names to self.default
    "fastcore.basics.GetAttr.__setstate__",  # __dict__.update
    "fastai.callback.core.Callback.__setattr__",  # warns when shadowing a learner attribute
})

#: The only types APPEND(S)/SETITEM(S)/ADDITEMS may fill: those opcodes call the target's own methods.
CONTAINER_TARGETS: frozenset[Name] = frozenset({
    ("builtins", "list"), ("builtins", "dict"), ("builtins", "set"), ("collections", "OrderedDict"),
    ("plum._method", "MethodList"),  # a list subclass (fastai 2.8 transforms' dispatch tables)
})
#: Method names a container's instance dictionary may not shadow.
CONTAINER_METHODS: frozenset[str] = frozenset({"append", "extend", "add", "update"})
