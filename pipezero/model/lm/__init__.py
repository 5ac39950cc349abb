"""Language models for LLM reasoning RL: a character-level transformer with LoRA, generation,
and (optional) a Hugging Face adapter in :mod:`pipezero.model.lm.hf_adapter`."""

from pipezero.model.lm.char_lm import CharLMConfig, CharTransformerLM
from pipezero.model.lm.generate import Generation, generate_episodes, generate_lines, left_pad
from pipezero.model.lm.lora import LoRALinear, disable_adapter, inject_lora, lora_parameters
from pipezero.model.lm.protocol import CausalLMProtocol, LMOutput, TokenizerProtocol, device_of
from pipezero.model.lm.tokenizer import CharTokenizer

__all__ = [
    "CausalLMProtocol",
    "CharLMConfig",
    "CharTokenizer",
    "CharTransformerLM",
    "Generation",
    "LMOutput",
    "LoRALinear",
    "TokenizerProtocol",
    "device_of",
    "disable_adapter",
    "generate_episodes",
    "generate_lines",
    "inject_lora",
    "left_pad",
    "lora_parameters",
]
