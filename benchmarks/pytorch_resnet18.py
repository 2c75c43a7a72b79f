#!/usr/bin/env python3
"""PyTorch reference for `sieve bench`: the same networks (--model: CIFAR ResNet-18 with
a 3x3 stride-1 stem, no max-pool, BasicBlocks [2,2,2,2], widths w/2w/4w/8w, BN, global
average pool, linear; the small CNN; the others of `sieve --model`), the same SGD step
(momentum 0.9, Nesterov, weight decay 5e-4, mean cross-entropy) and an eval-mode forward
with batch-norm statistics computed from the data after training (PyTorch's fastest
state), on random data, denormals flushed. Prints one JSON line."""
import argparse, json, os, time

import torch
import torch.nn as nn
import torch.nn.functional as F


def stages(block, widths, blocks, inp, wrap=nn.Sequential):
    """Residual stages as Sieve's Model.stages builds them: `blocks` blocks of each width,
    the first block of every stage but the first with stride 2. Returns (stages, channels out)."""
    out = []
    for i, planes in enumerate(widths):
        out.append(wrap(*[block(inp if j == 0 else planes, planes, 2 if i > 0 and j == 0 else 1) for j in range(blocks)]))
        inp = planes
    return out, inp


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, channels=3, classes=10, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, inp = stages(BasicBlock, [width * m for m in (1, 2, 4, 8)], 2, width)
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(inp, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class PreActBlock(nn.Module):
    """kuangliu/pytorch-cifar's PreActBlock: relu(bn1(x)) feeds conv1 and the 1x1 shortcut."""
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inp)
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or inp != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False))

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    """`sieve --model preact-resnet18`: 3x3 stem conv (no BN), PreActBlocks [2,2,2,2],
    global average pool of the last block, linear."""
    def __init__(self, channels=3, classes=10, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        layers, inp = stages(PreActBlock, [width * m for m in (1, 2, 4, 8)], 2, width)
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.linear = nn.Linear(inp, classes)

    def forward(self, x):
        out = self.layer4(self.layer3(self.layer2(self.layer1(self.conv1(x)))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class WideBlock(PreActBlock):
    """xternalz/WideResNet-pytorch's BasicBlock (drop rate 0): PreActBlock, shortcut `convShortcut`."""
    def __init__(self, inp, planes, stride):
        super().__init__(inp, planes, stride)
        if hasattr(self, "shortcut"):
            self.convShortcut = self.shortcut[0]
            del self.shortcut

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.convShortcut(out) if hasattr(self, "convShortcut") else x
        return self.conv2(F.relu(self.bn2(self.conv1(out)))) + shortcut


class Stage(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.layer = nn.Sequential(*blocks)

    def forward(self, x):
        return self.layer(x)


class WideResNet28(nn.Module):
    """`sieve --model wrn-28 --width K`: WideResNet-28-K as xternalz/WideResNet-pytorch."""
    def __init__(self, channels=3, classes=10, width=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        groups, inp = stages(WideBlock, [m * width for m in (16, 32, 64)], 4, 16, wrap=lambda *b: Stage(b))
        self.block1, self.block2, self.block3 = groups
        self.bn1 = nn.BatchNorm2d(inp)
        self.fc = nn.Linear(inp, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.block3(self.block2(self.block1(self.conv1(x))))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class ConvBN(nn.Module):
    def __init__(self, inp, out):
        super().__init__()
        self.conv = nn.Conv2d(inp, out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Layer9(ConvBN):
    """conv-BN-ReLU, max-pool 2, then (residual) x + res2(res1(x))."""
    def __init__(self, inp, out, residual):
        super().__init__(inp, out)
        if residual:
            self.res1, self.res2 = ConvBN(out, out), ConvBN(out, out)

    def forward(self, x):
        x = F.max_pool2d(super().forward(x), 2)
        return x + self.res2(self.res1(x)) if hasattr(self, "res1") else x


class ResNet9(nn.Module):
    """`sieve --model resnet9`: cifar10-fast's ResNet-9 with a linear bias and no logit scale."""
    def __init__(self, channels=3, classes=10, width=64):
        super().__init__()
        self.prep = ConvBN(channels, width)
        self.layer1 = Layer9(width, 2 * width, True)
        self.layer2 = Layer9(2 * width, 4 * width, False)
        self.layer3 = Layer9(4 * width, 8 * width, True)
        self.linear = nn.Linear(8 * width, classes)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.prep(x))))
        return self.linear(torch.flatten(F.adaptive_max_pool2d(out, 1), 1))


class TorchvisionBlock(BasicBlock):
    """BasicBlock with torchvision's name for the projection: `downsample`."""
    def __init__(self, inp, planes, stride):
        super().__init__(inp, planes, stride)
        self.downsample = self.shortcut
        del self.shortcut

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.downsample(x))


class ResNet18ImageNet(nn.Module):
    """`sieve --model resnet18-imagenet`: torchvision.models.resnet18's layout and names
    (7x7/2 stem, BN-ReLU, 3x3/2 max-pool pad 1, BasicBlocks, global average pool, fc)."""
    def __init__(self, channels=3, classes=1000, width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, inp = stages(TorchvisionBlock, [width * m for m in (1, 2, 4, 8)], 2, width)
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(inp, classes)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class CNN(nn.Module):
    """`sieve --model cnn` (the audit's default): conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU
    (no padding, no conv bias), max-pool 2, fc 128-ReLU, fc classes. `width` is ignored, as
    in Sieve; fc1's input size comes from the first forward (LazyLinear)."""
    def __init__(self, channels=1, classes=10, width=None):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.fc1 = nn.LazyLinear(128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        out = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        out = torch.flatten(F.max_pool2d(out, 2), 1)
        return self.fc2(F.relu(self.fc1(out)))


ARCHITECTURES = {"resnet18-imagenet": ResNet18ImageNet, "resnet18": ResNet18, "preact-resnet18": PreActResNet18, "wrn-28": WideResNet28, "resnet9": ResNet9, "cnn": CNN}


def build(model, channels, height, width_px, width, classes=10):
    """ARCHITECTURES[model] for inputs channels x height x width_px, lazy layers materialised
    (one forward of zeros in eval mode, which leaves batch-norm statistics alone)."""
    net = ARCHITECTURES[model](channels, classes, width)
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, channels, height, width_px))
    return net


def calibrate_batch_norm(model, x, passes=4):
    """Batch-norm running statistics computed from the data, as in a trained checkpoint:
    reset, then `passes` forwards of `x` in train mode with momentum None (PyTorch's
    cumulative average), then back to momentum 0.1. PyTorch's eval forward is fastest in
    this state (fresh or random statistics can push activations into denormal floats)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(x)
    for m in norms:
        m.momentum = 0.1
    model.train(was_training)


def benchmark_setup(args):
    """The benchmarks' PyTorch side: `args.threads` threads, denormals flushed (PyTorch at
    its strongest), seed 0, the model of `args.model`/`args.width` on `args.input`, a random
    batch of `args.batch` and the SGD optimiser Sieve's bench uses: (model, x, y, opt)."""
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)   # PyTorch at its strongest: no denormal slow paths
    torch.manual_seed(0)
    c, h, w = (int(v) for v in args.input.split("x"))
    model = build(args.model, c, h, w, args.width)
    x = torch.randn(args.batch, c, h, w)
    y = torch.randint(0, 10, (args.batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    return model, x, y, opt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet18", choices=sorted(ARCHITECTURES))
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1, help="timed rounds; the median is reported")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    model, x, y, opt = benchmark_setup(args)

    def train_step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def eval_forward():
        with torch.no_grad():
            F.cross_entropy(model(x), y, reduction="none")

    def rate(fn, train):
        model.train(train)
        fn()  # warm-up
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                fn()
            rates.append(args.steps * args.batch / (time.perf_counter() - t0))
        return sorted(rates)[len(rates) // 2]

    train = rate(train_step, True)
    # the eval forward of a trained process with batch-norm statistics from the data
    calibrate_batch_norm(model, x)
    result = {
        "framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(),
        "model": args.model, "width": args.width, "batch": args.batch, "input": args.input,
        "train_step_examples_per_second": train,
        "eval_forward_examples_per_second": rate(eval_forward, False),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
