"""Voice commands: the whole utterance is a command or it is dictation; variants tolerated."""

import textwrap

import pytest

from dictation.errors import DataFileError
from dictation.reporting.commands import CommandParser, load_commands, load_macros
from dictation.reporting.templates import TemplateLibrary


@pytest.fixture(scope="module")
def chest():
    return CommandParser(template=TemplateLibrary().get("xr-chest"))


COMMANDS = [
    ("Go to impression.", "go_to", "impression"),
    ("go to the impression", "go_to", "impression"),
    ("Got to impression.", "go_to", "impression"),           # a recognition variant
    ("Go to findings.", "go_to", "findings.lines_tubes"),   # a section with fields: its first field
    ("Go to the pleura.", "go_to", "findings.pleura"),
    ("Go to pleural.", "go_to", "findings.pleura"),
    ("jump to heart", "go_to", "findings.heart_mediastinum"),
    ("Next field.", "next_field", None),
    ("Previous field.", "previous_field", None),
    ("Scratch that.", "scratch_that", None),
    ("Scratched that.", "scratch_that", None),
    ("Um, scratch that, please.", "scratch_that", None),   # fillers at the edges
    ("Undo.", "undo", None),
    ("Redo.", "redo", None),
    ("New paragraph.", "new_paragraph", None),
    ("Insert normal.", "insert_normal", None),
    ("Normal lungs.", "normal_field", "findings.lungs"),
    ("Normal lines.", "normal_field", "findings.lines_tubes"),
    ("Normal bones.", "normal_field", "findings.bones"),
    ("Accept all normals.", "accept_all_defaults", None),
    ("Choose mildly enlarged.", "choose", "mildly enlarged"),
    ("Clear field.", "clear_field", None),
    ("Sign report.", "sign_final", None),
    ("Sign as preliminary.", "sign_preliminary", None),
    ("Sign as a preliminary.", "sign_preliminary", None),
    ("Stop listening.", "stop_listening", None),
    ("Start listening.", "start_listening", None),
    ("Normal chest.", "macro", "normal-chest"),
]


@pytest.mark.parametrize("said,name,arg", COMMANDS)
def test_commands_and_their_variants(chest, said, name, arg):
    command = chest.parse(said)
    assert command is not None, said
    assert (command.name, command.arg) == (name, arg)


DICTATION = [
    "No pneumothorax, next field.",             # a command inside a sentence is dictation
    "The lungs are clear. Go to impression.",
    "Please scratch that sentence about the effusion from the report, it was wrong.",
    "Normal chest radiograph with no acute findings.",
    "The heart is normal in size.",
    "Sign of prior granulomatous disease.",
    "Normal.",
    "Clear.",
    "and do",
    "No acute findings.",
    "Go to in the cation.",                     # too far from any command: dictation, not a guess
]


@pytest.mark.parametrize("said", DICTATION)
def test_dictation_is_never_a_command(chest, said):
    assert chest.parse(said) is None


def test_placeholders_use_the_template():
    head = CommandParser(template=TemplateLibrary().get("ct-head"))
    assert head.parse("go to hemorrhage").arg == "findings.hemorrhage"
    assert head.parse("normal chest") is None  # the macro is only for xr-chest
    assert CommandParser(template=TemplateLibrary().get("xr-chest")).parse("go to hemorrhage") is None


def test_a_close_match_never_adds_or_drops_a_word_that_changes_a_meaning():
    knee = CommandParser(template=TemplateLibrary().get("mr-knee"))
    assert (knee.parse("no comparison").name, knee.parse("no comparison").arg) == ("macro", "no-prior")
    # One letter from the macro "no comparison", but the "no" was not heard: nothing inserted.
    assert knee.parse("a comparison") is None
    assert knee.parse("No comparisons.").name == "macro"  # a close match with the same "no" still is one
    veins = CommandParser(template=TemplateLibrary().get("us-venous-lower-extremity"))
    assert veins.parse("choose left").arg == "left"
    assert veins.parse("two left") is None  # a number heard that the phrase does not have
    assert veins.parse("choose lift") is None  # the side not heard
    pe = CommandParser(template=TemplateLibrary().get("cta-chest-pe"))
    assert pe.parse("choose nondiagnostic").arg == pe.parse("choose non-diagnostic").arg == "non-diagnostic"
    assert pe.parse("choose diagnostic").arg == "diagnostic"
    # "write" sounds exactly like "right": in a command it is that side, never the other one.
    scrotum = CommandParser(template=TemplateLibrary().get("us-scrotum"))
    assert scrotum.parse("Go to write testes.").arg == "findings.right_testis"
    assert scrotum.parse("go to lit testis") is None
    assert scrotum.parse("go to write testis").arg != scrotum.parse("go to left testis").arg


def test_no_template_still_knows_fixed_commands():
    bare = CommandParser()
    assert bare.parse("scratch that").name == "scratch_that"
    assert bare.parse("go to impression") is None


def test_built_in_vocab_has_no_colliding_phrases():
    assert CommandParser(load_commands()).collisions() == []


def test_the_command_prompt_lists_commands_and_sections(chest):
    prompt = chest.prompt()
    assert "Go to impression." in prompt and "Scratch that." in prompt and "Sign as preliminary." in prompt


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("text,line,words", [
    ('[commands]\nnext_feild = ["next"]\n', 2, "unknown key 'next_feild'"),
    ('[commands]\ngo_to = ["go to"]\n', 2, "must contain {target}"),
    ('[commands]\nundo = ["undo {target}"]\n', 2, "takes no placeholder"),
    ('[commands]\nundo = "undo"\n', 2, "must be a list of phrases"),
    ('[matching]\nthreshold = 20\n', 2, "from 50 to 100"),
    ('[comands]\n', 1, "unknown section [comands]"),
])
def test_malformed_commands_file(tmp_path, text, line, words):
    path = write(tmp_path, "commands.toml", text)
    macros = write(tmp_path, "macros.toml", "")
    with pytest.raises(DataFileError) as e:
        load_commands(path, macros)
    assert e.value.line == line and words in str(e.value)


@pytest.mark.parametrize("text,words", [
    ('[m]\ntext = "x"\n', "needs phrases"),
    ('[m]\nphrases = ["p"]\n', "needs either text"),
    ('[m]\nphrases = ["p"]\ntext = "x"\nfields = { "a.b" = "y" }\n', "not both"),
    ('[m]\nphrases = ["p"]\ntext = "x"\ncolour = 1\n', "unknown key 'colour'"),
])
def test_malformed_macros_file(tmp_path, text, words):
    with pytest.raises(DataFileError) as e:
        load_macros(write(tmp_path, "macros.toml", text))
    assert e.value.line == 1 and words in str(e.value)


def test_confirm_is_a_command_but_not_in_the_second_looks_prompt():
    from dictation.reporting.commands import CommandParser

    parser = CommandParser()
    assert parser.parse("Confirm.").name == "confirm_words" and parser.parse("That is correct.").name == "confirm_words"
    assert "Confirm" not in parser.prompt(max_words=500)  # it changed how other short commands were read
