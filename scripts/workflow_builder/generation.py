"""The generation examples (other packs' nodes, no API twin): IP-Adapter FaceID on a saved identity, InstantID and
PuLID on the pack's insightface-compatible module, each followed by face-identity's identity check."""

from __future__ import annotations

from .graph import Node, Workflow
from .parts import Pos, check_previews, consistency, embed, loaders, loaders_and_reference, photo

Link = tuple[Node, int]


def text_prompts(
    wf: Workflow, checkpoint: Node, positive_pos: Pos, positive_text: str, negative_pos: Pos, negative_text: str
) -> tuple[Node, Node]:
    """Positive and negative CLIP Text Encode on the checkpoint's CLIP."""
    positive = wf.add("CLIPTextEncode", positive_pos, title="Positive", text=positive_text, clip=(checkpoint, 1))
    negative = wf.add("CLIPTextEncode", negative_pos, title="Negative", text=negative_text, clip=(checkpoint, 1))
    return positive, negative


def ksampler(wf: Workflow, pos: Pos, model: Link, positive: Link, negative: Link, latent: Node, cfg: float) -> Node:
    """KSampler: seed 0 (fixed), 30 steps of dpmpp_2m karras, full denoise."""
    return wf.add(
        "KSampler",
        pos,
        model=model,
        seed=0,
        control_after_generate="fixed",
        steps=30,
        cfg=cfg,
        sampler_name="dpmpp_2m",
        scheduler="karras",
        positive=positive,
        negative=negative,
        latent_image=(latent, 0),
        denoise=1.0,
    )


def decode_and_save(wf: Workflow, decode_pos: Pos, save_pos: Pos, sampler: Node, checkpoint: Node, prefix: str) -> Node:
    """VAE Decode of the sampler's latents with the checkpoint's VAE, saved as "Generated": the decoded images."""
    decoded = wf.add("VAEDecode", decode_pos, samples=(sampler, 0), vae=(checkpoint, 2))
    wf.add("SaveImage", save_pos, title="Generated", images=(decoded, 0), filename_prefix=prefix)
    return decoded


def ipadapter_faceid_identity() -> Workflow:
    """SD1.5 + IP-Adapter FaceID Plus v2 (ComfyUI_IPAdapter_plus) conditioned on a saved identity, no insightface package.

    Needs ComfyUI_IPAdapter_plus and its FaceID files: ip-adapter-faceid-plusv2_sd15.bin (models/ipadapter),
    its LoRA (models/loras), CLIP-ViT-H-14-laion2B-s32B-b79K (models/clip_vision), an SD1.5 checkpoint.
    """
    wf = Workflow("ipadapter_faceid_identity")
    recognizer, detector = loaders(wf, 0, 0)
    identity = wf.add(
        "FaceIdentity_LoadIdentity",
        (0, 520),
        title="Saved identity",
        identity_file="identities/example_person.safetensors",
    )
    analysis = wf.add(
        "FaceIdentity_InsightFaceAnalysis",
        (360, 260),
        detector=(detector, 0),
        recognizer=(recognizer, 0),
        identity=(identity, 0),
    )
    face_photo = photo(wf, (360, 520), "Face photo (FaceID Plus crop)", "face_identity_person_a_1.jpg")
    checkpoint = wf.add("CheckpointLoaderSimple", (0, 760), ckpt_name="v1-5-pruned-emaonly.safetensors")
    lora = wf.add(
        "LoraLoaderModelOnly",
        (360, 900),
        title="FaceID Plus v2 LoRA",
        model=(checkpoint, 0),
        lora_name="ip-adapter-faceid-plusv2_sd15_lora.safetensors",
        strength_model=0.6,
    )
    ipadapter = wf.add("IPAdapterModelLoader", (360, 1080), ipadapter_file="ip-adapter-faceid-plusv2_sd15.bin")
    clip_vision = wf.add("CLIPVisionLoader", (360, 1200), clip_name="CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors")
    faceid = wf.add(
        "IPAdapterFaceID",
        (720, 400),
        model=(lora, 0),
        ipadapter=(ipadapter, 0),
        image=(face_photo, 0),
        clip_vision=(clip_vision, 0),
        insightface=(analysis, 0),
        weight=0.85,
        weight_faceidv2=1.0,
        weight_type="linear",
        combine_embeds="concat",
        start_at=0.0,
        end_at=1.0,
        embeds_scaling="V only",
    )
    positive, negative = text_prompts(
        wf,
        checkpoint,
        (720, 800),
        "portrait photo of a person in a garden, natural light",
        (720, 1040),
        "blurry, lowres, deformed, watermark",
    )
    latent = wf.add("EmptyLatentImage", (720, 1260), width=512, height=768, batch_size=1)
    sampler = ksampler(wf, (1080, 400), (faceid, 0), (positive, 0), (negative, 0), latent, cfg=6.0)
    decode_and_save(wf, (1440, 400), (1800, 400), sampler, checkpoint, "face_identity_faceid")
    wf.add("PreviewImage", (1080, 0), title="Face crop IPAdapter used", images=(faceid, 1))
    wf.add("PreviewAny", (720, 0), title="Analyser", source=(analysis, 1))
    return wf


SDXL_CHECKPOINT = "sd_xl_base_1.0.safetensors"
"""The SDXL checkpoint the InstantID and PuLID examples name (any SDXL checkpoint does; pick yours in the node)."""
NO_QUEUE = (
    "{what} It cannot be queued on a machine without these weights (this pack's checks load it in ComfyUI's "
    "frontend and never queue it). No insightface package is needed: face-identity's prestartup_script.py registers "
    "an insightface-compatible module, so {loader} builds antelopev2's FaceAnalysis on face-identity's code. "
    "antelopev2 (insightface, non-commercial) goes in models/insightface/models/antelopev2/: glintr100.onnx and "
    "scrfd_10g_bnkps.onnx; if that folder is missing, glintr100.onnx is downloaded and checked against its SHA-256, "
    "with retinaface_10g standing in for the detector. Face Embed + Identity Consistency (arcface_w600k_r50, "
    "threshold 0.4, face-identity's own models, downloaded on first use) then score every generated image against "
    "the reference photo: an identity check by a recognizer other than the one the generator was conditioned on."
)


def sdxl_prompts(wf: Workflow, x: int, y: int, positive_text: str) -> tuple[Node, Node, Node, Node]:
    """Checkpoint, positive and negative CLIP Text Encode, Empty Latent Image (2 images at 1016 x 1016)."""
    checkpoint = wf.add("CheckpointLoaderSimple", (x, y), ckpt_name=SDXL_CHECKPOINT)
    negative_text = "blurry, lowres, deformed, watermark, text"
    positive, negative = text_prompts(wf, checkpoint, (x + 360, y - 460), positive_text, (x + 360, y - 220), negative_text)
    latent = wf.add("EmptyLatentImage", (x + 360, y + 20), width=1016, height=1016, batch_size=2)
    return checkpoint, positive, negative, latent


def sample_and_check(
    wf: Workflow,
    models: tuple[Node, Node, Node],
    sdxl: tuple[Node, Node, Node, Node],
    model: Link,
    conditioning: tuple[Link, Link],
    prefix: str,
    needs: str,
    loader: str,
) -> None:
    """KSampler -> VAE Decode -> Save Image, then Identity Consistency of the generated images against the reference,
    and the note saying what the example ``needs`` (the other pack's weights) and which ``loader`` builds antelopev2.

    ``models``: (recognizer, detector, reference photo); ``sdxl``: sdxl_prompts' nodes.
    """
    recognizer, detector, reference = models
    checkpoint, _, _, latent = sdxl
    x = 1440
    sampler = ksampler(wf, (x, 0), model, conditioning[0], conditioning[1], latent, cfg=4.5)
    decoded = decode_and_save(wf, (x + 360, 0), (x + 360, 160), sampler, checkpoint, prefix)
    reference_identity = embed(wf, (x - 360, 560), recognizer, detector, reference, "Reference identity")
    title = "Does the result look like the reference?"
    check = consistency(wf, (x + 720, 0), reference_identity, decoded, recognizer, detector, title)
    check_previews(wf, (x + 1080, 0), (x + 1080, 360), check)
    wf.add("PreviewAny", (x + 1080, 620), title="Gate result (what passed, what was blocked)", source=(check, 7))
    wf.note((0, 880), NO_QUEUE.format(what=needs, loader=loader))


APPLY_SCHEDULE = {"weight": 0.8, "start_at": 0.0, "end_at": 1.0}
"""Apply InstantID's and Apply PuLID's identity weight and the part of the sampling it conditions (all of it)."""
# What each example needs besides ComfyUI and this pack: the first sentence of its note (NO_QUEUE's {what}).
INSTANTID_NEEDS = (
    "Needs ComfyUI_InstantID and its weights: an SDXL checkpoint in models/checkpoints (here "
    f"{SDXL_CHECKPOINT}); ip-adapter.bin (InstantX/InstantID) in models/instantid; the InstantID ControlNet "
    "(InstantX/InstantID ControlNetModel/diffusion_pytorch_model.safetensors) as "
    "models/controlnet/instantid/diffusion_pytorch_model.safetensors; antelopev2 (below)."
)
PULID_NEEDS = (
    "Needs PuLID_ComfyUI and its weights: an SDXL checkpoint in models/checkpoints (here "
    f"{SDXL_CHECKPOINT}); ip-adapter_pulid_sdxl_fp16.safetensors (huchenlei/ipadapter_pulid) in "
    "models/pulid; EVA02-CLIP-L-14-336, which PuLID downloads into the Hugging Face cache on first use; "
    "facexlib's detection and parsing weights, which facexlib downloads on first use; antelopev2 (below)."
)


def instantid_identity_check() -> Workflow:
    """SDXL + InstantID (cubiq/ComfyUI_InstantID) on our insightface-compatible module, then our identity check."""
    wf = Workflow("instantid_identity_check")
    models = loaders_and_reference(wf)
    reference = models[2]
    analysis = wf.add("InstantIDFaceAnalysis", (360, 0), provider="CPU")
    instantid = wf.add("InstantIDModelLoader", (360, 140), instantid_file="ip-adapter.bin")
    control_net = wf.add("ControlNetLoader", (360, 280), control_net_name="instantid/diffusion_pytorch_model.safetensors")
    sdxl = checkpoint, positive, negative, _ = sdxl_prompts(
        wf, 360, 460, "portrait photo of a person in a garden, natural light, detailed skin"
    )
    applied = wf.add(
        "ApplyInstantID",
        (1080, 0),
        instantid=(instantid, 0),
        insightface=(analysis, 0),
        control_net=(control_net, 0),
        image=(reference, 0),
        model=(checkpoint, 0),
        positive=(positive, 0),
        negative=(negative, 0),
        **APPLY_SCHEDULE,
    )
    sample_and_check(
        wf,
        models,
        sdxl,
        (applied, 0),
        ((applied, 1), (applied, 2)),
        "face_identity_instantid",
        INSTANTID_NEEDS,
        "InstantID Face Analysis",
    )
    return wf


def pulid_identity_check() -> Workflow:
    """SDXL + PuLID (cubiq/PuLID_ComfyUI) on our insightface-compatible module, then our identity check."""
    wf = Workflow("pulid_identity_check")
    models = loaders_and_reference(wf)
    reference = models[2]
    pulid = wf.add("PulidModelLoader", (360, 0), pulid_file="ip-adapter_pulid_sdxl_fp16.safetensors")
    analysis = wf.add("PulidInsightFaceLoader", (360, 140), provider="CPU")
    eva_clip = wf.add("PulidEvaClipLoader", (360, 280))
    sdxl = checkpoint, positive, negative, _ = sdxl_prompts(
        wf, 360, 460, "closeup portrait photo of a person, cinematic light, highly detailed"
    )
    applied = wf.add(
        "ApplyPulid",
        (1080, 0),
        model=(checkpoint, 0),
        pulid=(pulid, 0),
        eva_clip=(eva_clip, 0),
        face_analysis=(analysis, 0),
        image=(reference, 0),
        method="fidelity",
        **APPLY_SCHEDULE,
    )
    sample_and_check(
        wf,
        models,
        sdxl,
        (applied, 0),
        ((positive, 0), (negative, 0)),
        "face_identity_pulid",
        PULID_NEEDS,
        "Load InsightFace (PuLID)",
    )
    return wf
