"""Redemptions: the catalogue (read from the desk; changed with scope ``catalogue``), orders the owner
signs (EIP-712, relayed ``orderBySig``), order status, fulfilment and cancellation (scope ``fulfilment``)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query, status

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.schemas.common import Address, Amount, QueryTime, Tx, TypedData, problem_responses
from api.schemas.redemptions import (
    ItemChange,
    ItemIn,
    ItemOut,
    OrderChange,
    OrderIn,
    OrderOut,
    OrderStatusName,
)
from ledger import eip712, redemptions
from ledger.redemptions import CatalogueEntry, OrderView
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(
    prefix="/redemptions", tags=["redemptions"], responses=problem_responses(404, 409, 422, 429, 502)
)
CatalogueOperator = Annotated[TokenIdentity, Depends(operator(Scope.CATALOGUE))]
FulfilmentOperator = Annotated[TokenIdentity, Depends(operator(Scope.FULFILMENT))]
ItemPath = Annotated[int, Path(ge=0, lt=2**256, examples=[1])]
OrderPath = Annotated[int, Path(ge=1, lt=2**256, examples=[1])]


def _item(entry: CatalogueEntry) -> ItemOut:
    return ItemOut(**vars(entry))


def _order(view: OrderView) -> OrderOut:
    return OrderOut(
        order_id=view.order_id,
        buyer=view.buyer,
        item_id=view.item_id,
        price=view.price,
        status=cast(OrderStatusName, view.status.name.lower()),
        created_at=view.created_at,
    )


@router.get("/catalogue", summary="Every upgrade listed on the desk, with price and stock")
def catalogue(
    svc: ServicesDep, session: SessionDep, active_only: Annotated[bool, Query()] = False
) -> list[ItemOut]:
    return [_item(entry) for entry in redemptions.catalogue(session, svc.relay(), active_only)]


@router.get("/catalogue/{item_id}", summary="One catalogue item")
def item(item_id: ItemPath, svc: ServicesDep, session: SessionDep) -> ItemOut:
    return _item(redemptions.get_item(session, svc.relay(), item_id))


@router.put(
    "/catalogue/{item_id}",
    summary="List or change an item (operator scope `catalogue`; sent with the catalogue role key)",
    responses=problem_responses(401, 403, 503),
)
def set_item(
    item_id: ItemPath, body: ItemIn, svc: ServicesDep, session: SessionDep, now: NowDep, _: CatalogueOperator
) -> ItemChange:
    entry, sent = redemptions.set_item(
        session,
        svc.relay(),
        item_id,
        price=body.price,
        stock=body.stock,
        active=body.active,
        title=body.title,
        description=body.description,
        now=now,
    )
    return ItemChange(item=_item(entry), tx=Tx.of(sent))


@router.get(
    "/orders/typed-data", summary="The EIP-712 order the buyer's wallet signs (with the current nonce)"
)
def order_typed_data(
    svc: ServicesDep,
    buyer: Annotated[Address, Query()],
    item_id: Annotated[int, Query(ge=0, lt=2**256)],
    max_price: Annotated[Amount, Query(description="base units, decimal string")],
    deadline: Annotated[QueryTime, Query()],
) -> TypedData:
    data = redemptions.order_typed_data(svc.relay(), buyer, item_id, max_price, deadline)
    return TypedData(typed_data=eip712.to_json(data), digest="0x" + eip712.digest(data).hex())


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    summary="Place an order the buyer signed; the stones are escrowed until fulfilment or cancellation",
    responses=problem_responses(403, 503),
)
def place_order(body: OrderIn, svc: ServicesDep, now: NowDep) -> OrderChange:
    view, sent = redemptions.place_order(
        svc.relay(), body.buyer, body.item_id, body.max_price, body.deadline, body.signature, now
    )
    return OrderChange(order=_order(view), tx=Tx.of(sent))


@router.get("/orders", summary="A buyer's orders, oldest first")
def orders(svc: ServicesDep, buyer: Annotated[Address, Query()]) -> list[OrderOut]:
    return [_order(view) for view in redemptions.orders_of(svc.relay(), buyer)]


@router.get("/orders/{order_id}", summary="An order's status")
def order(order_id: OrderPath, svc: ServicesDep) -> OrderOut:
    return _order(redemptions.get_order(svc.relay(), order_id))


@router.post(
    "/orders/{order_id}/fulfil",
    summary="Deliver an order: its escrowed stones are burned (operator scope `fulfilment`)",
    responses=problem_responses(401, 403),
)
def fulfil(order_id: OrderPath, svc: ServicesDep, _: FulfilmentOperator) -> OrderChange:
    view, sent = redemptions.fulfil(svc.relay(), order_id)
    return OrderChange(order=_order(view), tx=Tx.of(sent))


@router.post(
    "/orders/{order_id}/cancel",
    summary="Cancel an order: its stones go back to the buyer (operator scope `fulfilment`)",
    responses=problem_responses(401, 403),
)
def cancel(order_id: OrderPath, svc: ServicesDep, _: FulfilmentOperator) -> OrderChange:
    view, sent = redemptions.cancel(svc.relay(), order_id)
    return OrderChange(order=_order(view), tx=Tx.of(sent))
