// The words a code is made of: a list the project owns. 512 common English
// words of 4 to 8 letters (9 bits each), chosen so that any two differ in
// at least three letters (edit distance) and none begins another: one
// mistyped, missing or extra letter still points at exactly one word, and
// near-homophones (pear/pair, flour/flower) cannot both be in. A code
// travels as its text, so the list decides only which codes are made and
// which words a sender recognises. tests/tcp/file/code_test.ts holds these
// properties.

/** The 512 code words, sorted. */
export const CODE_WORDS: readonly string[] = (
  "abacus acorn acrobat admiral adobe agent airport alarm algebra alley " +
  "almanac almond alpaca alphabet amber anchor angel animal ankle answer apex " +
  "apricot apron aquarium arcade arch armchair aroma artist asteroid atlas " +
  "attic autumn avenue avocado backpack badge bagpipe baker balcony ballad " +
  "balloon bamboo banana banjo barrel baseball bathtub battery bayou beacon " +
  "beanbag bedroom beehive beetle bell bench berry bicycle biscuit blanket " +
  "blender blimp blossom blue bobcat bonfire bonnet boulder bouquet bracelet " +
  "bramble brass bread breeze brick brisket brownie bubble bucket buffalo " +
  "bulldog bungalow bunny burger burrow button cabaret cabbage cabin cactus " +
  "calendar calico camel campfire canoe canvas captain carafe caravan " +
  "cardinal cargo carousel carpet cartoon cashew castle catfish catnip " +
  "cauldron cedar celery cement ceramic chalk chariot checkers cheetah chess " +
  "chestnut chicken chimney chipmunk chisel chorus chowder cinema circus " +
  "citadel clarinet cliff clock clover coach cobalt cobra cobweb cockatoo " +
  "cockpit coconut coffee compass condor confetti cookie copper corduroy " +
  "cosmos cougar cowboy coyote cracker crayon crescent crown crystal cuckoo " +
  "cupboard cupcake cushion cyclone daffodil daisy daybreak delta denim " +
  "dentist desert dewdrop diamond dingo dinner dinosaur diploma doctor " +
  "doghouse dolphin domino donkey doorbell doorknob doorway drawer drum duck " +
  "dugout dumpling dynamo eagle echo eclipse eggplant elbow elephant elevator " +
  "emerald engine envelope fairway feather fedora ferret fiddle fiesta " +
  "firefly fishbowl fjord flag flamingo flannel fleece flotilla foghorn " +
  "forest forge forklift fossil fountain foxglove freckle freight furnace " +
  "galaxy gallop garden gargoyle garlic gazebo gazelle geyser gingham giraffe " +
  "glacier glitter goblet goldfish gondola goose gorilla granite grape " +
  "griffin grizzly grotto guitar gumdrop gymnast hacksaw hairpin hamlet " +
  "hammock hamster handbag harp harvest hazelnut headband hedgehog helix " +
  "helmet herring hibiscus highway hippo holly horizon hotel hubcap husky " +
  "iceberg igloo iguana inkblot inkwell inlet island ivory jackal jaguar " +
  "jamboree jasmine jester jetty jewel jigsaw journal juggler jukebox juniper " +
  "kangaroo kayak kazoo kernel ketchup kimono kitten kiwi koala ladder " +
  "ladybug lagoon lamb lantern legend lemon leopard lettuce library lily " +
  "linen lizard lobster lollipop lotus lynx macaroni magnet mammoth mandolin " +
  "marble marina mascot maze meadow mermaid meteor mint mirror monsoon mosaic " +
  "muffin mulberry museum mushroom mustard napkin narwhal nebula nectar nest " +
  "nickel nomad noodle nugget nutmeg oasis oatmeal ocean octopus olive onion " +
  "opal orange orbit orchid ostrich otter outpost paddock palace pancake " +
  "panda panther papaya parrot parsley pastry pavilion peacock peanut pelican " +
  "pencil penguin pennant piano piccolo pickle pigeon pillow pinwheel pirate " +
  "pizza plateau polar pony popcorn possum potato prairie pretzel prism " +
  "pudding pueblo pumpkin puppet puzzle quartz quilt quiver rabbit raccoon " +
  "radio raft rainbow raisin rapids raven reef reindeer rhino ribbon robot " +
  "ruby sailor sapphire sardine satchel saucer sausage scarf scooter scorpion " +
  "scroll sheriff shrimp shutter silver skate skunk sled slipper sloth snail " +
  "snowman sofa spider spinach spindle sprout spruce squash squid squirrel " +
  "stable starfish stirrup stove strudel summit sundae sunset sushi swallow " +
  "swan sweater syrup taco tadpole tandem tapestry teacup teapot temple " +
  "tennis terrace thistle throne thunder tiger toast toboggan toucan tractor " +
  "trapeze trellis trident trolley trophy truffle trumpet tugboat tulip " +
  "tundra tunnel turbine turkey turtle tuxedo tweed typhoon umbrella unicorn " +
  "valve vanilla veranda violin volcano vortex vulture waffle walkway walnut " +
  "warthog weasel wheat windmill window wolf wombat yacht zenith zephyr "
).trim().split(" ");
