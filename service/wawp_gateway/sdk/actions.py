"""Typed command builders: one method per action of the Wawp catalog.

Generated from the catalog (``wawp/endpoints.json``) by ``wawp-gateway generate``; a test fails
when it is stale, so change ``sdk/codegen.py`` or the catalog, never this file. Keyword arguments
are the action's params under their wire names (``chatId``; names that are not identifiers lose
their dots, keywords get a trailing ``_``); None leaves a param out.
"""

# ruff: noqa: N803
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from pydantic import JsonValue

from wawp_gateway.core.contracts import Command
from wawp_gateway.sdk.commands import build_command, given
from wawp_gateway.sdk.shapes import MediaFile, Poll

__all__ = ["METHODS", "Actions"]


METHODS: Mapping[str, str] = MappingProxyType(
    {
        "channelsCreate": "channels_create",
        "channelsDelete": "channels_delete",
        "channelsFollow": "channels_follow",
        "channelsGet": "channels_get",
        "channelsList": "channels_list",
        "channelsMute": "channels_mute",
        "channelsPreviewMessages": "channels_preview_messages",
        "channelsSearchByText": "channels_search_by_text",
        "channelsSearchByView": "channels_search_by_view",
        "channelsSearchCategories": "channels_search_categories",
        "channelsSearchCountries": "channels_search_countries",
        "channelsSearchViews": "channels_search_views",
        "channelsUnfollow": "channels_unfollow",
        "channelsUnmute": "channels_unmute",
        "chatArchive": "chat_archive",
        "chatDelete": "chat_delete",
        "chatMarkUnread": "chat_mark_unread",
        "chatMessageDelete": "chat_message_delete",
        "chatMessageEdit": "chat_message_edit",
        "chatMessageGet": "chat_message_get",
        "chatMessagePin": "chat_message_pin",
        "chatMessageUnpin": "chat_message_unpin",
        "chatMessages": "chat_messages",
        "chatMessagesClear": "chat_messages_clear",
        "chatMessagesRead": "chat_messages_read",
        "chatPicture": "chat_picture",
        "chatUnarchive": "chat_unarchive",
        "chatsList": "chats_list",
        "chatsOverview": "chats_overview",
        "chatsWithLabel": "chats_with_label",
        "contactAbout": "contact_about",
        "contactBlock": "contact_block",
        "contactCheckExists": "contact_check_exists",
        "contactGet": "contact_get",
        "contactProfilePicture": "contact_profile_picture",
        "contactUnblock": "contact_unblock",
        "contactUpsert": "contact_upsert",
        "contactsAll": "contacts_all",
        "createSession": "create_session",
        "deleteProfilePicture": "delete_profile_picture",
        "deleteSession": "delete_session",
        "getInstanceStatus": "get_instance_status",
        "getPresence": "get_presence",
        "getProfile": "get_profile",
        "getQrImage": "get_qr_image",
        "getQrRaw": "get_qr_raw",
        "getSessionInfo": "get_session_info",
        "getSessionMe": "get_session_me",
        "getSessionRateLimit": "get_session_rate_limit",
        "groupAdminDemote": "group_admin_demote",
        "groupAdminPromote": "group_admin_promote",
        "groupCreate": "group_create",
        "groupDelete": "group_delete",
        "groupDescription": "group_description",
        "groupGet": "group_get",
        "groupInfoAdminOnlyGet": "group_info_admin_only_get",
        "groupInfoAdminOnlySet": "group_info_admin_only_set",
        "groupInviteCodeGet": "group_invite_code_get",
        "groupInviteCodeRevoke": "group_invite_code_revoke",
        "groupLeave": "group_leave",
        "groupMessagesAdminOnlyGet": "group_messages_admin_only_get",
        "groupMessagesAdminOnlySet": "group_messages_admin_only_set",
        "groupParticipantsAdd": "group_participants_add",
        "groupParticipantsGet": "group_participants_get",
        "groupParticipantsRemove": "group_participants_remove",
        "groupPictureDelete": "group_picture_delete",
        "groupPictureGet": "group_picture_get",
        "groupPictureSet": "group_picture_set",
        "groupSubject": "group_subject",
        "groupsCount": "groups_count",
        "groupsJoin": "groups_join",
        "groupsJoinInfo": "groups_join_info",
        "groupsList": "groups_list",
        "groupsRefresh": "groups_refresh",
        "labelCreate": "label_create",
        "labelDelete": "label_delete",
        "labelLinkChat": "label_link_chat",
        "labelUpdate": "label_update",
        "labelsForChatGet": "labels_for_chat_get",
        "labelsForChatSave": "labels_for_chat_save",
        "labelsList": "labels_list",
        "lidsCount": "lids_count",
        "lidsList": "lids_list",
        "logoutSession": "logout_session",
        "reaction": "reaction",
        "rejectCall": "reject_call",
        "requestCode": "request_code",
        "restartSession": "restart_session",
        "sendContactVcard": "send_contact_vcard",
        "sendFile": "send_file",
        "sendImage": "send_image",
        "sendLinkPreview": "send_link_preview",
        "sendLocation": "send_location",
        "sendPoll": "send_poll",
        "sendSeen": "send_seen",
        "sendText": "send_text",
        "sendVideo": "send_video",
        "sendVoice": "send_voice",
        "sessionTempLink": "session_temp_link",
        "sessionWebhook": "session_webhook",
        "setPresence": "set_presence",
        "setProfileName": "set_profile_name",
        "setProfilePicture": "set_profile_picture",
        "setProfileStatus": "set_profile_status",
        "star": "star",
        "startSession": "start_session",
        "startTyping": "start_typing",
        "statusDelete": "status_delete",
        "statusImage": "status_image",
        "statusText": "status_text",
        "statusVideo": "status_video",
        "statusVoice": "status_voice",
        "stopSession": "stop_session",
        "stopTyping": "stop_typing",
        "subscribePresence": "subscribe_presence",
    }
)
"""Catalog action -> the ``Actions`` method that builds it."""


class Actions:
    """Builders of validated commands for one Wawp instance.

    ``Actions("ABC123DEF456").send_image(chatId=..., file=...)`` returns a ``Command`` ready to
    publish; invalid params raise ``InvalidCommand`` here, before anything is sent.
    """

    __slots__ = ("instance_id",)

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id

    def command(
        self,
        action: str,
        params: Mapping[str, JsonValue] | None = None,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Any catalog action by name, ``params`` as the command's JSON params."""
        return build_command(
            self.instance_id,
            action,
            params or {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_create(
        self,
        *,
        name: str,
        description: str | None = None,
        picture: MediaFile | None = None,
        type: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Create a new channel.

        ``POST /channels`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsCreate",
            given(
                {
                    "name": name,
                    "description": description,
                    "picture": picture,
                    "type": type,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_delete(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete channel.

        ``DELETE /channels/{id}`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsDelete",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_follow(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Follow a channel.

        ``POST /channels/{id}/follow`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsFollow",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get channel info.

        ``GET /channels/{id}`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_list(
        self,
        *,
        role: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get list of known channels.

        ``GET /channels`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsList",
            given(
                {
                    "role": role,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_mute(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Mute a channel.

        ``POST /channels/{id}/mute`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsMute",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_preview_messages(
        self,
        *,
        id: str,
        downloadMedia: bool | None = None,
        limit: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Preview channel messages.

        ``GET /channels/{id}/messages/preview`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsPreviewMessages",
            given(
                {
                    "id": id,
                    "downloadMedia": downloadMedia,
                    "limit": limit,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_search_by_text(
        self,
        *,
        text: str,
        countries: Sequence[JsonValue] | None = None,
        categories: Sequence[JsonValue] | None = None,
        limit: int | None = None,
        startCursor: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Search channels - by text.

        ``GET /channels/search`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsSearchByText",
            given(
                {
                    "text": text,
                    "countries": countries,
                    "categories": categories,
                    "limit": limit,
                    "startCursor": startCursor,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_search_by_view(
        self,
        *,
        view: str,
        countries: Sequence[JsonValue] | None = None,
        categories: Sequence[JsonValue] | None = None,
        limit: int | None = None,
        startCursor: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Search channels - by view.

        ``GET /channels/search`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsSearchByView",
            given(
                {
                    "view": view,
                    "countries": countries,
                    "categories": categories,
                    "limit": limit,
                    "startCursor": startCursor,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_search_categories(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Search metadata - categories.

        ``GET /channels/search/categories`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsSearchCategories",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_search_countries(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Search metadata - countries.

        ``GET /channels/search/countries`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsSearchCountries",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_search_views(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Search metadata - views.

        ``GET /channels/search/views`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsSearchViews",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_unfollow(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Unfollow a channel.

        ``POST /channels/{id}/unfollow`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsUnfollow",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def channels_unmute(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Unmute a channel.

        ``POST /channels/{id}/unmute`` (catalog group channels; the command topic).
        """
        return build_command(
            self.instance_id,
            "channelsUnmute",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_archive(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Archive chat.

        ``POST /chats/{chatId}/archive`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatArchive",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_delete(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete the chat.

        ``DELETE /chats/{chatId}`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatDelete",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_mark_unread(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Mark chat as unread.

        ``POST /chats/{chatId}/unread`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMarkUnread",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_message_delete(
        self,
        *,
        chatId: str,
        messageId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete a message.

        ``DELETE /chats/{chatId}/messages/{messageId}`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessageDelete",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_message_edit(
        self,
        *,
        chatId: str,
        messageId: str,
        text: str,
        linkPreview: bool | None = None,
        linkPreviewHighQuality: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Edit a text message.

        ``PUT /chats/{chatId}/messages/{messageId}`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessageEdit",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                    "text": text,
                    "linkPreview": linkPreview,
                    "linkPreviewHighQuality": linkPreviewHighQuality,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_message_get(
        self,
        *,
        chatId: str,
        messageId: str,
        downloadMedia: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get message by id.

        ``GET /chats/{chatId}/messages/{messageId}`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessageGet",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                    "downloadMedia": downloadMedia,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_message_pin(
        self,
        *,
        chatId: str,
        messageId: str,
        duration: int,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Pin a message.

        ``POST /chats/{chatId}/messages/{messageId}/pin`` (catalog group chats; the command
        topic).
        """
        return build_command(
            self.instance_id,
            "chatMessagePin",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                    "duration": duration,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_message_unpin(
        self,
        *,
        chatId: str,
        messageId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Unpin a message.

        ``POST /chats/{chatId}/messages/{messageId}/unpin`` (catalog group chats; the command
        topic).
        """
        return build_command(
            self.instance_id,
            "chatMessageUnpin",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_messages(
        self,
        *,
        chatId: str,
        limit: int | None = None,
        offset: int | None = None,
        downloadMedia: bool | None = None,
        filter_timestamp_lte: int | None = None,
        filter_timestamp_gte: int | None = None,
        filter_fromMe: bool | None = None,
        filter_ack: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get messages in chat.

        ``GET /chats/{chatId}/messages`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessages",
            given(
                {
                    "chatId": chatId,
                    "limit": limit,
                    "offset": offset,
                    "downloadMedia": downloadMedia,
                    "filter.timestamp.lte": filter_timestamp_lte,
                    "filter.timestamp.gte": filter_timestamp_gte,
                    "filter.fromMe": filter_fromMe,
                    "filter.ack": filter_ack,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_messages_clear(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Clear all messages.

        ``DELETE /chats/{chatId}/messages`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessagesClear",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_messages_read(
        self,
        *,
        chatId: str,
        messages: int | None = None,
        days: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Mark unread as read.

        ``POST /chats/{chatId}/messages/read`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatMessagesRead",
            given(
                {
                    "chatId": chatId,
                    "messages": messages,
                    "days": days,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_picture(
        self,
        *,
        chatId: str,
        refresh: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get chat picture.

        ``GET /chats/{chatId}/picture`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatPicture",
            given(
                {
                    "chatId": chatId,
                    "refresh": refresh,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chat_unarchive(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Unarchive chat.

        ``POST /chats/{chatId}/unarchive`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatUnarchive",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chats_list(
        self,
        *,
        sortBy: str | None = None,
        sortOrder: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Chats list & overview.

        ``GET /chats`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatsList",
            given(
                {
                    "sortBy": sortBy,
                    "sortOrder": sortOrder,
                    "limit": limit,
                    "offset": offset,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chats_overview(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        ids: Sequence[JsonValue] | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Chats overview.

        ``GET /chats/overview`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatsOverview",
            given(
                {
                    "limit": limit,
                    "offset": offset,
                    "ids": ids,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def chats_with_label(
        self,
        *,
        labelId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get chats with label.

        ``GET /labels/{labelId}/chats`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "chatsWithLabel",
            given(
                {
                    "labelId": labelId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_about(
        self,
        *,
        contactId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Contact about.

        ``GET /contacts/about`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactAbout",
            given(
                {
                    "contactId": contactId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_block(
        self,
        *,
        contactId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Block contact.

        ``POST /contacts/block`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactBlock",
            given(
                {
                    "contactId": contactId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_check_exists(
        self,
        *,
        phone: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Check phone number is registered in WhatsApp.

        ``GET /contacts/check-exists`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactCheckExists",
            given(
                {
                    "phone": phone,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_get(
        self,
        *,
        contactId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Basic contact info.

        ``GET /contacts`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactGet",
            given(
                {
                    "contactId": contactId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_profile_picture(
        self,
        *,
        contactId: str,
        refresh: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Contact profile picture.

        ``GET /contacts/profile-picture`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactProfilePicture",
            given(
                {
                    "contactId": contactId,
                    "refresh": refresh,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_unblock(
        self,
        *,
        contactId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Unblock contact.

        ``POST /contacts/unblock`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactUnblock",
            given(
                {
                    "contactId": contactId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contact_upsert(
        self,
        *,
        contactId: str,
        firstName: str,
        lastName: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Create or update contact in address book.

        ``PUT /contacts/{contactId}`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactUpsert",
            given(
                {
                    "contactId": contactId,
                    "firstName": firstName,
                    "lastName": lastName,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def contacts_all(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        sortBy: str | None = None,
        sortOrder: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get all contacts.

        ``GET /contacts/all`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "contactsAll",
            given(
                {
                    "limit": limit,
                    "offset": offset,
                    "sortBy": sortBy,
                    "sortOrder": sortOrder,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def create_session(
        self,
        *,
        name: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Create new Session.

        ``POST /createSession`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "createSession",
            given(
                {
                    "name": name,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def delete_profile_picture(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete profile picture.

        ``DELETE /profile/picture`` (catalog group profile; the command topic).
        """
        return build_command(
            self.instance_id,
            "deleteProfilePicture",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def delete_session(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete Session.

        ``DELETE /session/delete`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "deleteSession",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_instance_status(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Instance status (extra, v1 only).

        ``GET /status`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "getInstanceStatus",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_presence(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get the presence for the chat id.

        ``GET /presence/{chatId}`` (catalog group presence; the command topic).
        """
        return build_command(
            self.instance_id,
            "getPresence",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_profile(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get profile.

        ``GET /profile`` (catalog group profile; the command topic).
        """
        return build_command(
            self.instance_id,
            "getProfile",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_qr_image(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """GET QR image.

        ``GET /getQr`` (catalog group auth; the command topic).
        """
        return build_command(
            self.instance_id,
            "getQrImage",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_qr_raw(
        self,
        *,
        format: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """GET QR raw.

        ``GET /getQr`` (catalog group auth; the command topic).
        """
        return build_command(
            self.instance_id,
            "getQrRaw",
            given(
                {
                    "format": format,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_session_info(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get Session info.

        ``GET /session/info`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "getSessionInfo",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_session_me(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """About WhatsApp Data.

        ``GET /session/me`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "getSessionMe",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def get_session_rate_limit(
        self,
        *,
        policy_slug: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Session Rate Limits (extra, v2 only).

        ``GET /v2/session/rate-limit`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "getSessionRateLimit",
            given(
                {
                    "policy_slug": policy_slug,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_admin_demote(
        self,
        *,
        id: str,
        participants: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Demote admins to participants.

        ``POST /groups/{id}/admin/demote`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupAdminDemote",
            given(
                {
                    "id": id,
                    "participants": participants,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_admin_promote(
        self,
        *,
        id: str,
        participants: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Promote participants to admin.

        ``POST /groups/{id}/admin/promote`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupAdminPromote",
            given(
                {
                    "id": id,
                    "participants": participants,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_create(
        self,
        *,
        name: str,
        participants: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Create a group.

        ``POST /groups`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupCreate",
            given(
                {
                    "name": name,
                    "participants": participants,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_delete(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete the group.

        ``DELETE /groups/{id}`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupDelete",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_description(
        self,
        *,
        id: str,
        description: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Update group description.

        ``PUT /groups/{id}/description`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupDescription",
            given(
                {
                    "id": id,
                    "description": description,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get the group.

        ``GET /groups/{id}`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_info_admin_only_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get 'info admin only' setting.

        ``GET /groups/{id}/settings/security/info-admin-only`` (catalog group groups; the command
        topic).
        """
        return build_command(
            self.instance_id,
            "groupInfoAdminOnlyGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_info_admin_only_set(
        self,
        *,
        id: str,
        adminsOnly: bool,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set 'info admin only' setting.

        ``PUT /groups/{id}/settings/security/info-admin-only`` (catalog group groups; the command
        topic).
        """
        return build_command(
            self.instance_id,
            "groupInfoAdminOnlySet",
            given(
                {
                    "id": id,
                    "adminsOnly": adminsOnly,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_invite_code_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get invite code.

        ``GET /groups/{id}/invite-code`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupInviteCodeGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_invite_code_revoke(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Revoke invite code.

        ``POST /groups/{id}/invite-code/revoke`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupInviteCodeRevoke",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_leave(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Leave the group.

        ``POST /groups/{id}/leave`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupLeave",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_messages_admin_only_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get 'messages admin only' setting.

        ``GET /groups/{id}/settings/security/messages-admin-only`` (catalog group groups; the
        command topic).
        """
        return build_command(
            self.instance_id,
            "groupMessagesAdminOnlyGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_messages_admin_only_set(
        self,
        *,
        id: str,
        adminsOnly: bool,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set 'messages admin only' setting.

        ``PUT /groups/{id}/settings/security/messages-admin-only`` (catalog group groups; the
        command topic).
        """
        return build_command(
            self.instance_id,
            "groupMessagesAdminOnlySet",
            given(
                {
                    "id": id,
                    "adminsOnly": adminsOnly,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_participants_add(
        self,
        *,
        id: str,
        participants: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Add participants.

        ``POST /groups/{id}/participants/add`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupParticipantsAdd",
            given(
                {
                    "id": id,
                    "participants": participants,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_participants_get(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get participants.

        ``GET /groups/{id}/participants`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupParticipantsGet",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_participants_remove(
        self,
        *,
        id: str,
        participants: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Remove participants.

        ``POST /groups/{id}/participants/remove`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupParticipantsRemove",
            given(
                {
                    "id": id,
                    "participants": participants,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_picture_delete(
        self,
        *,
        id: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete group picture.

        ``DELETE /groups/{id}/picture`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupPictureDelete",
            given(
                {
                    "id": id,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_picture_get(
        self,
        *,
        id: str,
        refresh: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get group picture.

        ``GET /groups/{id}/picture`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupPictureGet",
            given(
                {
                    "id": id,
                    "refresh": refresh,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_picture_set(
        self,
        *,
        id: str,
        file: MediaFile,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set group picture.

        ``PUT /groups/{id}/picture`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupPictureSet",
            given(
                {
                    "id": id,
                    "file": file,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def group_subject(
        self,
        *,
        id: str,
        subject: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Update group subject.

        ``PUT /groups/{id}/subject`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupSubject",
            given(
                {
                    "id": id,
                    "subject": subject,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def groups_count(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Count groups.

        ``GET /groups/count`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupsCount",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def groups_join(
        self,
        *,
        code: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Join group.

        ``POST /groups/join`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupsJoin",
            given(
                {
                    "code": code,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def groups_join_info(
        self,
        *,
        code: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get group join info.

        ``GET /groups/join-info`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupsJoinInfo",
            given(
                {
                    "code": code,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def groups_list(
        self,
        *,
        limit: int | None = None,
        sortOrder: str | None = None,
        offset: int | None = None,
        sortBy: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get all groups.

        ``GET /groups`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupsList",
            given(
                {
                    "limit": limit,
                    "sortOrder": sortOrder,
                    "offset": offset,
                    "sortBy": sortBy,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def groups_refresh(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Refresh groups.

        ``POST /groups/refresh`` (catalog group groups; the command topic).
        """
        return build_command(
            self.instance_id,
            "groupsRefresh",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def label_create(
        self,
        *,
        name: str,
        colorHex: str | None = None,
        color: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Create a label.

        ``POST /labels`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelCreate",
            given(
                {
                    "name": name,
                    "colorHex": colorHex,
                    "color": color,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def label_delete(
        self,
        *,
        labelId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete a label.

        ``DELETE /labels/{labelId}`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelDelete",
            given(
                {
                    "labelId": labelId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def label_link_chat(
        self,
        *,
        id: str,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Link label to chat (extra, v2).

        ``PUT /v2/labels/{id}/chats/{chatId}`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelLinkChat",
            given(
                {
                    "id": id,
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def label_update(
        self,
        *,
        labelId: str,
        name: str | None = None,
        color: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Update a label.

        ``PUT /labels/{labelId}`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelUpdate",
            given(
                {
                    "labelId": labelId,
                    "name": name,
                    "color": color,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def labels_for_chat_get(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get labels for the chat.

        ``GET /labels/chats/{chatId}`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelsForChatGet",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def labels_for_chat_save(
        self,
        *,
        chatId: str,
        labels: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Save labels for the chat.

        ``PUT /labels/chats/{chatId}`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelsForChatSave",
            given(
                {
                    "chatId": chatId,
                    "labels": labels,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def labels_list(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Get all labels.

        ``GET /labels`` (catalog group labels; the command topic).
        """
        return build_command(
            self.instance_id,
            "labelsList",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def lids_count(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Number of known lids.

        ``GET /lids/count`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "lidsCount",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def lids_list(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """All known lids to phone number mapping.

        ``GET /lids`` (catalog group contacts; the command topic).
        """
        return build_command(
            self.instance_id,
            "lidsList",
            given(
                {
                    "limit": limit,
                    "offset": offset,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def logout_session(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Logout Session.

        ``POST /session/logout`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "logoutSession",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def reaction(
        self,
        *,
        chatId: str,
        messageId: str,
        reaction: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Reaction.

        ``PUT /reaction`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "reaction",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                    "reaction": reaction,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def reject_call(
        self,
        *,
        callId: str,
        from_: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Reject Call (extra, v2; calls have no own group here).

        ``POST /v2/calls/reject`` (catalog group chats; the command topic).
        """
        return build_command(
            self.instance_id,
            "rejectCall",
            given(
                {
                    "callId": callId,
                    "from": from_,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def request_code(
        self,
        *,
        phone_number: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Request code.

        ``POST /requestCode`` (catalog group auth; the command topic).
        """
        return build_command(
            self.instance_id,
            "requestCode",
            given(
                {
                    "phone_number": phone_number,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def restart_session(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Restart Session.

        ``POST /session/restart`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "restartSession",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_contact_vcard(
        self,
        *,
        chatId: str,
        contacts: Sequence[JsonValue],
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Contact Vcard.

        ``POST /sendContactVcard`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendContactVcard",
            given(
                {
                    "chatId": chatId,
                    "contacts": contacts,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_file(
        self,
        *,
        chatId: str,
        file: MediaFile,
        caption: str | None = None,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send PDF.

        ``POST /sendFile`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendFile",
            given(
                {
                    "chatId": chatId,
                    "file": file,
                    "caption": caption,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_image(
        self,
        *,
        chatId: str,
        file: MediaFile,
        caption: str | None = None,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Image.

        ``POST /sendImage`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendImage",
            given(
                {
                    "chatId": chatId,
                    "file": file,
                    "caption": caption,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_link_preview(
        self,
        *,
        chatId: str,
        text: str,
        url: str,
        title: str,
        description: str | None = None,
        thumbnail: str | None = None,
        linkPreviewHighQuality: bool | None = None,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Link Preview.

        ``POST /v2/send/link-preview`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendLinkPreview",
            given(
                {
                    "chatId": chatId,
                    "text": text,
                    "url": url,
                    "title": title,
                    "description": description,
                    "thumbnail": thumbnail,
                    "linkPreviewHighQuality": linkPreviewHighQuality,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_location(
        self,
        *,
        chatId: str,
        latitude: str | float,
        longitude: str | float,
        title: str | None = None,
        message: str | None = None,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Location.

        ``POST /sendLocation`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendLocation",
            given(
                {
                    "chatId": chatId,
                    "latitude": latitude,
                    "longitude": longitude,
                    "title": title,
                    "message": message,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_poll(
        self,
        *,
        chatId: str,
        poll: Poll,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send poll.

        ``POST /sendPoll`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendPoll",
            given(
                {
                    "chatId": chatId,
                    "poll": poll,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_seen(
        self,
        *,
        chatId: str,
        messageIds: Sequence[JsonValue] | None = None,
        participant: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Mark message(s) as seen.

        ``POST /sendSeen`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendSeen",
            given(
                {
                    "chatId": chatId,
                    "messageIds": messageIds,
                    "participant": participant,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_text(
        self,
        *,
        chatId: str,
        message: str,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Text.

        ``POST /send`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendText",
            given(
                {
                    "chatId": chatId,
                    "message": message,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_video(
        self,
        *,
        chatId: str,
        file: MediaFile,
        caption: str | None = None,
        convert: bool | None = None,
        asNote: bool | None = None,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send video.

        ``POST /sendVideo`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendVideo",
            given(
                {
                    "chatId": chatId,
                    "file": file,
                    "caption": caption,
                    "convert": convert,
                    "asNote": asNote,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def send_voice(
        self,
        *,
        chatId: str,
        file: MediaFile,
        convert: bool,
        reply_to: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Send Voice.

        ``POST /sendVoice`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "sendVoice",
            given(
                {
                    "chatId": chatId,
                    "file": file,
                    "convert": convert,
                    "reply_to": reply_to,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def session_temp_link(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Temporary Access Link (extra, v2 only).

        ``POST /v2/session/temp-link`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "sessionTempLink",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def session_webhook(
        self,
        *,
        webhooks: Sequence[JsonValue],
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Webhook Management (extra, v2 only, paid).

        ``POST /v2/session/webhook`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "sessionWebhook",
            given(
                {
                    "webhooks": webhooks,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def set_presence(
        self,
        *,
        presence: str,
        chatId: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set session presence.

        ``POST /presence`` (catalog group presence; the command topic).
        """
        return build_command(
            self.instance_id,
            "setPresence",
            given(
                {
                    "presence": presence,
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def set_profile_name(
        self,
        *,
        name: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set display-name.

        ``PUT /profile/nameRequest`` (catalog group profile; the command topic).
        """
        return build_command(
            self.instance_id,
            "setProfileName",
            given(
                {
                    "name": name,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def set_profile_picture(
        self,
        *,
        file: MediaFile,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Upload picture.

        ``PUT /profile/picture`` (catalog group profile; the command topic).
        """
        return build_command(
            self.instance_id,
            "setProfilePicture",
            given(
                {
                    "file": file,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def set_profile_status(
        self,
        *,
        status: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Set 'About' status.

        ``PUT /profile/status`` (catalog group profile; the command topic).
        """
        return build_command(
            self.instance_id,
            "setProfileStatus",
            given(
                {
                    "status": status,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def star(
        self,
        *,
        chatId: str,
        messageId: str,
        star: bool,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Star/unstar a message.

        ``PUT /star`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "star",
            given(
                {
                    "chatId": chatId,
                    "messageId": messageId,
                    "star": star,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def start_session(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Start Session.

        ``POST /session/start`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "startSession",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def start_typing(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Start typing.

        ``POST /startTyping`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "startTyping",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def status_delete(
        self,
        *,
        id: str,
        contacts: Sequence[JsonValue] | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Delete status.

        ``POST /status/delete`` (catalog group status; the command topic).
        """
        return build_command(
            self.instance_id,
            "statusDelete",
            given(
                {
                    "id": id,
                    "contacts": contacts,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def status_image(
        self,
        *,
        file: MediaFile,
        caption: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Image status.

        ``POST /status/image`` (catalog group status; the send topic).
        """
        return build_command(
            self.instance_id,
            "statusImage",
            given(
                {
                    "file": file,
                    "caption": caption,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def status_text(
        self,
        *,
        text: str,
        backgroundColor: str | None = None,
        font: int | None = None,
        linkPreview: bool | None = None,
        linkPreviewHighQuality: bool | None = None,
        contacts: Sequence[JsonValue] | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Text status.

        ``POST /status/text`` (catalog group status; the send topic).
        """
        return build_command(
            self.instance_id,
            "statusText",
            given(
                {
                    "text": text,
                    "backgroundColor": backgroundColor,
                    "font": font,
                    "linkPreview": linkPreview,
                    "linkPreviewHighQuality": linkPreviewHighQuality,
                    "contacts": contacts,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def status_video(
        self,
        *,
        file: MediaFile,
        caption: str | None = None,
        convert: bool | None = None,
        asNote: bool | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Video status.

        ``POST /status/video`` (catalog group status; the send topic).
        """
        return build_command(
            self.instance_id,
            "statusVideo",
            given(
                {
                    "file": file,
                    "caption": caption,
                    "convert": convert,
                    "asNote": asNote,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def status_voice(
        self,
        *,
        file: MediaFile,
        convert: bool | None = None,
        caption: str | None = None,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Voice status.

        ``POST /status/voice`` (catalog group status; the send topic).
        """
        return build_command(
            self.instance_id,
            "statusVoice",
            given(
                {
                    "file": file,
                    "convert": convert,
                    "caption": caption,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def stop_session(
        self,
        *,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Stop Session.

        ``POST /session/stop`` (catalog group session; the command topic).
        """
        return build_command(
            self.instance_id,
            "stopSession",
            {},
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def stop_typing(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Stop typing.

        ``POST /stopTyping`` (catalog group send; the send topic).
        """
        return build_command(
            self.instance_id,
            "stopTyping",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )

    def subscribe_presence(
        self,
        *,
        chatId: str,
        command_id: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        reply_to_topic: str | None = None,
        not_after: datetime | None = None,
        created_at: datetime | None = None,
    ) -> Command:
        """Subscribe to presence (extra, v2).

        ``POST /v2/presence/{chatId}/subscribe`` (catalog group presence; the command topic).
        """
        return build_command(
            self.instance_id,
            "subscribePresence",
            given(
                {
                    "chatId": chatId,
                }
            ),
            command_id=command_id,
            idempotency_key=idempotency_key,
            correlation_id=correlation_id,
            reply_to_topic=reply_to_topic,
            not_after=not_after,
            created_at=created_at,
        )
