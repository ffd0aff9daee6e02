"""Names shared by the dialogue core: default actions, intents, slots and JSON keys.

The values (and the order of ``DEFAULT_ACTION_NAMES``) are those of Rasa 3.6,
because models, stories and custom action servers refer to them by name and
policies index actions by position.
"""

from __future__ import annotations

from typing import Final

# --- default intents -------------------------------------------------------
USER_INTENT_RESTART: Final = "restart"
USER_INTENT_BACK: Final = "back"
USER_INTENT_OUT_OF_SCOPE: Final = "out_of_scope"
USER_INTENT_SESSION_START: Final = "session_start"
DEFAULT_NLU_FALLBACK_INTENT_NAME: Final = "nlu_fallback"

DEFAULT_INTENTS: Final[tuple[str, ...]] = (
    USER_INTENT_RESTART,
    USER_INTENT_BACK,
    USER_INTENT_OUT_OF_SCOPE,
    USER_INTENT_SESSION_START,
    DEFAULT_NLU_FALLBACK_INTENT_NAME,
)

# --- default actions -------------------------------------------------------
ACTION_LISTEN_NAME: Final = "action_listen"
ACTION_RESTART_NAME: Final = "action_restart"
ACTION_SESSION_START_NAME: Final = "action_session_start"
ACTION_DEFAULT_FALLBACK_NAME: Final = "action_default_fallback"
ACTION_DEACTIVATE_LOOP_NAME: Final = "action_deactivate_loop"
ACTION_REVERT_FALLBACK_EVENTS_NAME: Final = "action_revert_fallback_events"
ACTION_DEFAULT_ASK_AFFIRMATION_NAME: Final = "action_default_ask_affirmation"
ACTION_DEFAULT_ASK_REPHRASE_NAME: Final = "action_default_ask_rephrase"
ACTION_TWO_STAGE_FALLBACK_NAME: Final = "action_two_stage_fallback"
ACTION_UNLIKELY_INTENT_NAME: Final = "action_unlikely_intent"
ACTION_BACK_NAME: Final = "action_back"
ACTION_SEND_TEXT_NAME: Final = "action_send_text"
# Placeholder action of rule snippets (`...` in rules); part of the action list.
RULE_SNIPPET_ACTION_NAME: Final = "..."
ACTION_EXTRACT_SLOTS: Final = "action_extract_slots"
ACTION_VALIDATE_SLOT_MAPPINGS: Final = "action_validate_slot_mappings"

# Rasa 3.6 order: policies predict action *indices*, so the order is part of
# the model format.
DEFAULT_ACTION_NAMES: Final[tuple[str, ...]] = (
    ACTION_LISTEN_NAME,
    ACTION_RESTART_NAME,
    ACTION_SESSION_START_NAME,
    ACTION_DEFAULT_FALLBACK_NAME,
    ACTION_DEACTIVATE_LOOP_NAME,
    ACTION_REVERT_FALLBACK_EVENTS_NAME,
    ACTION_DEFAULT_ASK_AFFIRMATION_NAME,
    ACTION_DEFAULT_ASK_REPHRASE_NAME,
    ACTION_TWO_STAGE_FALLBACK_NAME,
    ACTION_UNLIKELY_INTENT_NAME,
    ACTION_BACK_NAME,
    ACTION_SEND_TEXT_NAME,
    RULE_SNIPPET_ACTION_NAME,
    ACTION_EXTRACT_SLOTS,
)

UTTER_PREFIX: Final = "utter_"
RESPOND_PREFIX: Final = "respond_"
DEFAULT_KNOWLEDGE_BASE_ACTION: Final = "action_query_knowledge_base"

# --- default slots ---------------------------------------------------------
REQUESTED_SLOT: Final = "requested_slot"
SESSION_START_METADATA_SLOT: Final = "session_started_metadata"
SLOT_LISTED_ITEMS: Final = "knowledge_base_listed_objects"
SLOT_LAST_OBJECT: Final = "knowledge_base_last_object"
SLOT_LAST_OBJECT_TYPE: Final = "knowledge_base_last_object_type"

KNOWLEDGE_BASE_SLOT_NAMES: Final[frozenset[str]] = frozenset(
    {SLOT_LISTED_ITEMS, SLOT_LAST_OBJECT, SLOT_LAST_OBJECT_TYPE}
)
# Slots the domain adds by itself; they are not written back into domain JSON.
DEFAULT_SLOT_NAMES: Final[frozenset[str]] = frozenset({REQUESTED_SLOT, SESSION_START_METADATA_SLOT})

# Catch-all value of categorical slots (featurized when the value is unknown).
DEFAULT_CATEGORICAL_SLOT_VALUE: Final = "__other__"

# --- slot types and mappings -------------------------------------------------
SLOT_TYPE_TEXT: Final = "text"
SLOT_TYPE_BOOL: Final = "bool"
SLOT_TYPE_CATEGORICAL: Final = "categorical"
SLOT_TYPE_FLOAT: Final = "float"
SLOT_TYPE_LIST: Final = "list"
SLOT_TYPE_ANY: Final = "any"

MAPPING_FROM_ENTITY: Final = "from_entity"
MAPPING_FROM_INTENT: Final = "from_intent"
MAPPING_FROM_TRIGGER_INTENT: Final = "from_trigger_intent"
MAPPING_FROM_TEXT: Final = "from_text"
MAPPING_CUSTOM: Final = "custom"
SLOT_MAPPING_TYPES: Final[tuple[str, ...]] = (
    MAPPING_FROM_ENTITY,
    MAPPING_FROM_INTENT,
    MAPPING_FROM_TRIGGER_INTENT,
    MAPPING_FROM_TEXT,
    MAPPING_CUSTOM,
)
MAPPING_CONDITIONS: Final = "conditions"

# --- tracker / state keys ------------------------------------------------------
ACTIVE_LOOP: Final = "active_loop"
LOOP_NAME: Final = "name"
LOOP_REJECTED: Final = "rejected"
LOOP_INTERRUPTED: Final = "is_interrupted"
TRIGGER_MESSAGE: Final = "trigger_message"
FOLLOWUP_ACTION: Final = "followup_action"
PREVIOUS_ACTION: Final = "prev_action"
USER: Final = "user"
SLOTS: Final = "slots"
# Rules may require a slot / active loop to be unset; they use this marker.
SHOULD_NOT_BE_SET: Final = "should_not_be_set"
USE_TEXT_FOR_FEATURIZATION: Final = "use_text_for_featurization"
ENTITY_LABEL_SEPARATOR: Final = "#"

# --- external events and reminders ---------------------------------------------
EXTERNAL_MESSAGE_PREFIX: Final = "EXTERNAL: "
IS_EXTERNAL: Final = "is_external"
ACTION_NAME_SENDER_ID_CONNECTOR_STR: Final = "__sender_id:"

# --- NLU parse data keys ---------------------------------------------------------
TEXT: Final = "text"
INTENT: Final = "intent"
ENTITIES: Final = "entities"
INTENT_NAME_KEY: Final = "name"
PREDICTED_CONFIDENCE_KEY: Final = "confidence"
INTENT_RANKING_KEY: Final = "intent_ranking"
RESPONSE_SELECTOR: Final = "response_selector"
FULL_RETRIEVAL_INTENT_NAME_KEY: Final = "full_retrieval_intent_name"
ACTION_NAME: Final = "action_name"
ACTION_TEXT: Final = "action_text"
ENTITY_ATTRIBUTE_TYPE: Final = "entity"
ENTITY_ATTRIBUTE_VALUE: Final = "value"
ENTITY_ATTRIBUTE_ROLE: Final = "role"
ENTITY_ATTRIBUTE_GROUP: Final = "group"
ENTITY_ATTRIBUTE_START: Final = "start"
ENTITY_ATTRIBUTE_END: Final = "end"
ENTITY_ATTRIBUTE_CONFIDENCE: Final = "confidence_entity"

# --- event metadata keys -----------------------------------------------------------
METADATA_MODEL_ID: Final = "model_id"
ASSISTANT_ID_KEY: Final = "assistant_id"

DEFAULT_SENDER_ID: Final = "default"
