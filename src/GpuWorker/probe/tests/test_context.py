import os
import sys
import tempfile
import unittest

import _support  # noqa: F401
from magneton_probe import context, semantic


class Frames(unittest.TestCase):
    def test_the_framework_filter_ends_at_a_separator(self):
        with tempfile.TemporaryDirectory() as d:
            torch_dir = os.path.join(d, "site-packages", "torch")
            f = semantic.FrameFilter([torch_dir])
            self.assertFalse(f.keep(os.path.join(torch_dir, "nn", "modules", "module.py")))
            self.assertTrue(f.keep(os.path.join(d, "site-packages", "torchvision", "models", "resnet.py")))
            self.assertTrue(f.keep(os.path.join(d, "site-packages", "torch_geometric", "nn.py")))
            self.assertFalse(f.keep("<frozen runpy>"))

    def test_short_paths(self):
        sp = semantic.short_path
        self.assertEqual(sp("/usr/lib/python3/dist-packages/transformers/activations.py"), "transformers/activations.py")
        self.assertEqual(sp("/venv/lib/python3.12/site-packages/torchvision/models/resnet.py"),
                         "torchvision/models/resnet.py")
        self.assertEqual(sp("/home/u/proj/models/gpt.py", ("/home/u/proj/",)), "models/gpt.py")
        self.assertEqual(sp("/elsewhere/x.py", ("/home/u/proj/",)), "x.py")

    def test_stack_is_innermost_first_and_remembers_files(self):
        f = semantic.FrameFilter([os.path.dirname(semantic.__file__)])

        def inner():
            return f.stack(sys._getframe())

        stack = inner()
        self.assertTrue(stack[0].endswith(":inner"))
        self.assertTrue(stack[1].endswith(":test_stack_is_innermost_first_and_remembers_files"))
        self.assertEqual(f.files[stack[0]], os.path.abspath(__file__))
        self.assertLessEqual(len(f.stack(sys._getframe(), limit=2)), 2)


class Source(unittest.TestCase):
    def test_lines_around_each_frame(self):
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as t:
            t.write("".join("line %d\n" % i for i in range(1, 21)))
        try:
            frame = "model.py:10:forward"
            src = context.source_lines([frame, "other.py:1:f"], {frame: t.name})
            self.assertEqual(list(src), [frame])
            self.assertEqual(src[frame]["lines"][0], [7, "line 7"])
            self.assertEqual(src[frame]["lines"][-1], [13, "line 13"])
            near_top = context.source_lines(["m.py:2:f"], {"m.py:2:f": t.name})
            self.assertEqual(near_top["m.py:2:f"]["lines"][0][0], 1)
        finally:
            os.remove(t.name)

    def test_parse_frame_and_collect_frames(self):
        self.assertEqual(context.parse_frame("a/b:c.py:12:fn"), ("a/b:c.py", 12, "fn"))
        nodes = [{"stack": ["a:1:f", "b:2:g"]}, {"stack": ["b:2:g", "c:3:h"]}]
        self.assertEqual(context.stack_frames(nodes), ["a:1:f", "b:2:g", "c:3:h"])

    def test_model_config_falls_back_to_the_workload_config(self):
        class Cfg:
            _attn_implementation = "sdpa"

            def to_dict(self):
                return {"activation_function": "gelu_new", "torch_dtype": object(), "nested": {"a": 1}}

        class Model:
            config = Cfg()

        cfg = context.model_config([("", Model())])
        self.assertEqual(cfg["_attn_implementation"], "sdpa")
        self.assertIsInstance(cfg["torch_dtype"], str)
        self.assertEqual(context.model_config([("", object())], {"activation": "tanh"}), {"activation": "tanh"})
        self.assertIsNone(context.model_config([], None))


if __name__ == "__main__":
    unittest.main()
