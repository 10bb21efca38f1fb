import pytest

from llava_ecg.errors import LlavaEcgError
from llava_ecg.registry import DuplicateNameError, Registry, UnknownNameError


def test_register_get_aliases_and_names():
    reg = Registry("colour", normalize=str.lower)
    reg.register("red", 1, aliases=("rouge",))

    @reg.register("blue")
    def blue():
        return 2

    assert reg["RED"] == reg.get("rouge") == 1 and reg["blue"] is blue
    assert reg.names() == ["red", "blue"] and list(reg) == ["red", "blue"] and len(reg) == 2
    assert "Rouge" in reg and "green" not in reg and ["unhashable"] not in reg
    assert reg.canonical(" rouge ") == "red"


def test_duplicates_are_refused_unless_replaced():
    reg = Registry("colour")
    reg.register("red", 1, aliases=("rouge",))
    with pytest.raises(DuplicateNameError, match="'red' is already registered"):
        reg.register("red", 2)
    with pytest.raises(DuplicateNameError, match="'rouge'"):
        reg.register("crimson", 2, aliases=("rouge",))
    reg.register("red", 3, replace=True)
    assert reg["red"] == 3
    assert reg.unregister("red") == 3 and "rouge" not in reg


def test_unknown_names_list_the_known_ones_with_the_registry_error():
    class MyError(LlavaEcgError):
        pass

    reg = Registry("layout", error=MyError)
    reg.register("3x4", 1, aliases=("default",))
    with pytest.raises(MyError, match=r"unknown layout '6x3'; known: 3x4 \(aliases: default\)"):
        reg["6x3"]
    with pytest.raises(UnknownNameError) as err:
        Registry("task").get("x")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert str(err.value) == "unknown task 'x'; known: "


def test_register_many_lists_every_name_and_refuses_a_taken_one():
    reg = Registry("extractor")

    @reg.register_many("ptbxl", "ecgqa")
    def ptbxl():
        return 1

    assert reg.names() == ["ptbxl", "ecgqa"] and reg["ecgqa"] is ptbxl and not reg.aliases()
    with pytest.raises(DuplicateNameError, match="'ecgqa'"):
        reg.register_many("ecgqa")(lambda: 2)
